-- Only a mail's sender and recipient may read it (GetMail, by TLS identity). The sender is the
-- party of the certificate that signed the message: "subscriber:<id>", or for a pseudonym
-- "certificate:<issuer>#<serial>" (libs/common/server/peer.h PartyOf). Mails deposited before this
-- column existed are matched by their sender's subject.
ALTER TABLE mails ADD COLUMN sender_party text;

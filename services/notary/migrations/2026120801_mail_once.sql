-- One mail per signed envelope: a copy of a deposit (the recipient holds one after delivery)
-- must not make a second mail, with a later submission time, out of the sender's signature.
CREATE UNIQUE INDEX mails_message_once ON mails (message_sha256);

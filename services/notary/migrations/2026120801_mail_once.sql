-- One mail per signed envelope: a copy of a deposit (the recipient holds one after delivery)
-- must not make a second mail, with a later submission time, out of the sender's signature.
-- Copies deposited before this version stay (evidence is never deleted): only the first mail of
-- each envelope takes its hash in message_once, which new deposits fill and the index keeps unique.
ALTER TABLE mails ADD COLUMN message_once bytea;
UPDATE mails SET message_once = message_sha256
  WHERE id IN (SELECT DISTINCT ON (message_sha256) id FROM mails ORDER BY message_sha256, created_at, id);
CREATE UNIQUE INDEX mails_message_once ON mails (message_once);

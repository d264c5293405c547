-- Pseudonym tags that link nothing without semper-arbiter (issue 18, finding 3).
--
-- Scheme 1 (before): parent_tag = HMAC(link key, base serial), the same for every pseudonym of one
-- base, and computable by the operator for every serial. Scheme 2: parent_tag =
-- HMAC(K_base, "semper-pseudonym-tag\n" || SHA-256 of the pseudonym's key), computed by
-- semper-arbiter (K_base comes from its escrow key and the base's key) for the holder's fresh
-- signed request; `name_tag` (role pseudonyms) is HMAC(K_base, "semper-pseudonym-name\n" || name),
-- the same for one holder's pseudonyms of one name only. Rows of scheme 1 keep their tags until
-- they expire.
ALTER TABLE pseudonyms ADD COLUMN tag_scheme smallint NOT NULL DEFAULT 1 CHECK (tag_scheme IN (1, 2));
ALTER TABLE pseudonyms ADD COLUMN name_tag bytea CHECK (name_tag IS NULL OR length(name_tag) = 32);

-- Certificates revoked for keyCompromise whose pseudonyms (scheme 2) are still to be found and
-- revoked: the cascade asks semper-arbiter for the base's key after the revocation commits.
CREATE TABLE pseudonym_cascades (
  serial     text PRIMARY KEY,
  queued_at  timestamptz NOT NULL DEFAULT now(),
  attempts   integer NOT NULL DEFAULT 0,
  last_error text
);

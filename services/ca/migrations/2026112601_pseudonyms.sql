-- Pseudonym certificates (their certificates rows have no subscriber) and the sealed links to
-- the identities behind them. Nothing here links a pseudonym to a subscriber in clear:
-- `parent_tag` is HMAC-SHA256 of the base certificate's serial under a key kept outside the
-- database (ca.link_key_file), so that revoking a base for keyCompromise finds what was derived
-- from it; `sealed_link` is encrypted to semper-arbiter's escrow certificate.
CREATE TABLE pseudonyms (
  serial      text PRIMARY KEY REFERENCES certificates (serial),
  kind        text NOT NULL CHECK (kind IN ('role', 'transaction')),
  parent_tag  bytea NOT NULL CHECK (length(parent_tag) = 32),
  sealed_link bytea NOT NULL,
  issued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pseudonyms_parent ON pseudonyms (parent_tag);

-- Every reveal: which order opened which pseudonym, when, at whose request. Append-only.
CREATE TABLE pseudonym_reveals (
  id              bigserial PRIMARY KEY,
  serial          text NOT NULL REFERENCES pseudonyms (serial),
  case_id         text NOT NULL,
  order_json      bytea NOT NULL,
  order_signature bytea NOT NULL,
  order_sha256    bytea NOT NULL,
  requested_by    text NOT NULL,
  revealed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pseudonym_reveals_serial ON pseudonym_reveals (serial, id);
CREATE RULE pseudonym_reveals_no_update AS ON UPDATE TO pseudonym_reveals DO INSTEAD NOTHING;
CREATE RULE pseudonym_reveals_no_delete AS ON DELETE TO pseudonym_reveals DO INSTEAD NOTHING;

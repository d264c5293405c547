-- Registration records, their change history, enrolment codes, and issued certificates.
CREATE TABLE subscribers (
  id             text PRIMARY KEY,
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind           text NOT NULL CHECK (kind IN ('individual', 'enterprise')),
  country        text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
  applicable_law text NOT NULL CHECK (applicable_law ~ '^([A-Z]{2}|EU)$'),
  vat_reference  text,
  email          text NOT NULL,
  state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'closed')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  created_by     text NOT NULL,
  CHECK (kind = 'individual' OR vat_reference IS NOT NULL)
);
CREATE INDEX subscribers_created ON subscribers (created_at DESC, id DESC);

-- Every change to a subscriber, with who made it.
CREATE TABLE subscriber_changes (
  id            bigserial PRIMARY KEY,
  subscriber_id text NOT NULL REFERENCES subscribers (id),
  changed_at    timestamptz NOT NULL DEFAULT now(),
  changed_by    text NOT NULL,
  action        text NOT NULL,
  details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX subscriber_changes_subscriber ON subscriber_changes (subscriber_id, id);

-- One-time enrolment codes, kept only as SHA-256 hashes.
CREATE TABLE enrolment_codes (
  code_sha256   bytea PRIMARY KEY CHECK (length(code_sha256) = 32),
  subscriber_id text NOT NULL REFERENCES subscribers (id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);

CREATE TABLE certificates (
  serial         text PRIMARY KEY,
  subscriber_id  text REFERENCES subscribers (id),
  profile        text NOT NULL,
  subject        text NOT NULL,
  spki_sha256    bytea NOT NULL,
  not_before     timestamptz NOT NULL,
  not_after      timestamptz NOT NULL,
  der            bytea NOT NULL,
  issued_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at     timestamptz,
  revocation_reason int
);
CREATE INDEX certificates_subscriber ON certificates (subscriber_id);
CREATE INDEX certificates_spki ON certificates (spki_sha256);

-- Keys that may never be certified again (revoked for keyCompromise).
CREATE TABLE blocked_keys (
  spki_sha256 bytea PRIMARY KEY,
  blocked_at  timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL
);

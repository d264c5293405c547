-- CRLs as issued, so that every replica serves the same, monotonically numbered lists.
CREATE SEQUENCE crl_number START 1;

CREATE TABLE crls (
  number      bigint PRIMARY KEY,
  delta_base  bigint,           -- NULL for a full CRL
  this_update timestamptz NOT NULL,
  next_update timestamptz NOT NULL,
  der         bytea NOT NULL
);
CREATE INDEX crls_kind ON crls ((delta_base IS NULL), number DESC);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

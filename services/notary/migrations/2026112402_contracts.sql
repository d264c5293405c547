-- Multi-party contracts. A contract's row is locked by every request that may decide it, so a
-- decision (completed or aborted) is taken once; the outcome statement is stored with the
-- decision and appended to the evidence log after it (outcome_index).
CREATE TABLE contracts (
  id                text PRIMARY KEY,
  title             text NOT NULL,
  contract          bytea NOT NULL,
  contract_sha256   bytea NOT NULL,
  deadline          timestamptz NOT NULL,
  state             text NOT NULL CHECK (state IN ('open', 'completed', 'aborted')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  decided_at        timestamptz,
  outcome_kind      text,
  outcome_statement bytea,
  outcome_signature bytea,
  outcome_index     bigint
);

CREATE TABLE contract_signers (
  contract_id        text NOT NULL REFERENCES contracts (id),
  position           int NOT NULL,
  subject            text NOT NULL,
  certificate_sha256 bytea NOT NULL,
  state              text NOT NULL CHECK (state IN ('pending', 'signed', 'declined')),
  signature          bytea,
  at                 timestamptz,
  PRIMARY KEY (contract_id, position),
  UNIQUE (contract_id, certificate_sha256)
);

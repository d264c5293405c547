-- One record per optimistic exchange, keyed by H(me1). A row is inserted once and never changed:
-- the first decision is final.
CREATE TABLE exchanges (
  me1_hash        bytea PRIMARY KEY,
  resolved        boolean NOT NULL,
  token_body      bytea NOT NULL,
  token_signature bytea NOT NULL,
  requested_by    text NOT NULL,
  decided_at      timestamptz NOT NULL DEFAULT now()
);

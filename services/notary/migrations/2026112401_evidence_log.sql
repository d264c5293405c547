-- The append-only evidence log. Entries are never updated or deleted by the notary; the Merkle
-- tree over them (kept in memory, rebuilt from here at start) and the signed tree heads make any
-- change by someone else visible.
CREATE TABLE log_head (
  id   boolean PRIMARY KEY DEFAULT true CHECK (id),
  size bigint NOT NULL
);
INSERT INTO log_head (size) VALUES (0);

CREATE TABLE log_entries (
  index      bigint PRIMARY KEY,
  kind       text NOT NULL,
  statement  bytea NOT NULL,   -- the leaf: RFC 9162 leaf hash of these bytes
  signature  bytea NOT NULL,   -- the notary's detached CMS signature over statement
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tree_heads (
  tree_size  bigint PRIMARY KEY,
  root_hash  bytea NOT NULL,
  statement  bytea NOT NULL,
  signature  bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

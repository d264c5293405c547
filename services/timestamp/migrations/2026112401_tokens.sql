-- Every token the TSA issued, committed before the reply left.
-- Serial numbers are (block << 24) | n, blocks drawn from this sequence by each process, so no
-- two processes ever issue the same serial, across restarts and replicas.
CREATE SEQUENCE serial_blocks START 1;

CREATE TABLE tokens (
  serial          bigint PRIMARY KEY,
  gen_time        timestamptz NOT NULL,
  hash_algorithm  text NOT NULL,
  imprint         bytea NOT NULL,
  policy          text NOT NULL,
  requester       text NOT NULL DEFAULT '',
  -- The token without the TSA's certificates (the same in every token); cert_req says whether
  -- the token sent carried them.
  token           bytea NOT NULL,
  cert_req        boolean NOT NULL,
  -- Batch mode: the token is over the root of a Merkle tree of this many leaves, and the leaves
  -- (32-byte SHA-256 imprints, concatenated in order) are kept for audit.
  batch_tree_size bigint NOT NULL DEFAULT 0,
  batch_leaves    bytea
);
CREATE INDEX tokens_gen_time ON tokens (gen_time);

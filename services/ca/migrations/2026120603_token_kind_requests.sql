-- One token kind per signed request (issue 18, abuse): a replayed CreateTokenKind request returns
-- the kind it made instead of making another RSA key and row.
ALTER TABLE token_kinds ADD COLUMN request_sha256 bytea CHECK (request_sha256 IS NULL OR length(request_sha256) = 32);
CREATE UNIQUE INDEX token_kinds_request ON token_kinds (request_sha256) WHERE request_sha256 IS NOT NULL;

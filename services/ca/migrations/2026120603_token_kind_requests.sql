-- One token kind per signed request (issue 18, abuse): a replayed CreateTokenKind request returns
-- the kind it made instead of making another RSA key and row. request_sha256 is SHA-256 of the
-- issuing subscriber's id, a newline, and the signed request.
ALTER TABLE token_kinds ADD COLUMN request_sha256 bytea CHECK (request_sha256 IS NULL OR length(request_sha256) = 32);
CREATE UNIQUE INDEX token_kinds_request ON token_kinds (request_sha256) WHERE request_sha256 IS NOT NULL;

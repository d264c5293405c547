-- Delta CRLs refer to the latest base: a full CRL issued on schedule, not after each change.
ALTER TABLE crls ADD COLUMN is_base boolean NOT NULL DEFAULT false;
UPDATE crls SET is_base = true WHERE delta_base IS NULL;
CREATE INDEX crls_base ON crls (number DESC) WHERE is_base;

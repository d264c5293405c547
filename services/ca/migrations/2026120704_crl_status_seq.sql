-- The last status change each CRL includes (issue 22, review): a replica's start or schedule
-- skips a new base only when the latest base is recent and no status changed since it.
ALTER TABLE crls ADD COLUMN status_seq bigint;

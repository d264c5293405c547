-- Status changes become visible in the order of their numbers. Before, a transaction could take
-- a number, commit long after later numbers were visible, and be missed by watchers who had read
-- past it (the feed looked back only 30 s and 2,000 numbers). Now the number is taken under a
-- transaction-scoped lock held until commit: when a reader sees number n committed, every lower
-- number is committed (or rolled back) too, and "everything after the last number seen" is exact.
-- Status changes are rare (revocations, holds, releases): serialising them costs nothing visible.
CREATE OR REPLACE FUNCTION note_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
    PERFORM pg_advisory_xact_lock(7305911, 1);  -- semper-ca: status change numbering
    NEW.status_seq := nextval('ca.status_changes');
    NEW.status_changed_at := clock_timestamp();
  END IF;
  RETURN NEW;
END $$;
-- The order holds only while every number comes from the sequence one at a time (no cache).
ALTER SEQUENCE status_changes CACHE 1;

-- Every change of a certificate's status (revocation, hold, release) gets a number from one
-- sequence, so that watchers (semper-liability) can follow revocations as they happen.
CREATE SEQUENCE status_changes;
ALTER TABLE certificates ADD COLUMN status_seq bigint, ADD COLUMN status_changed_at timestamptz;
UPDATE certificates SET status_seq = nextval('ca.status_changes'), status_changed_at = revoked_at
  WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_status_seq ON certificates (status_seq) WHERE status_seq IS NOT NULL;
CREATE INDEX certificates_status_changed ON certificates (status_changed_at) WHERE status_changed_at IS NOT NULL;

CREATE FUNCTION note_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
    NEW.status_seq := nextval('ca.status_changes');
    NEW.status_changed_at := clock_timestamp();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER certificates_status_change BEFORE UPDATE ON certificates
  FOR EACH ROW EXECUTE FUNCTION note_status_change();

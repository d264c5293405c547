-- Which enrolment code made a subscriber's certificate (issue 22, review): a retry of an enrolment
-- whose answer was lost gets that enrolment's certificates, and no others. NULL for certificates
-- made before this column and for service certificates.
ALTER TABLE certificates ADD COLUMN enrolment_code_sha256 bytea;
CREATE INDEX certificates_enrolment_code ON certificates (enrolment_code_sha256) WHERE enrolment_code_sha256 IS NOT NULL;

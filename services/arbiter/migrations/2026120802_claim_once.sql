-- One case per signed claim: GetCase shows a case's signed claim to whoever knows its id, and a
-- copy filed again (by the respondent, or anyone) must not open a second case with its own
-- verdict. Cases filed before this version have no hash and are left as they are.
ALTER TABLE cases ADD COLUMN claim_sha256 bytea;
CREATE UNIQUE INDEX cases_claim_once ON cases (claim_sha256);

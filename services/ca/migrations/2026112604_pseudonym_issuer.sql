-- Which CA certificate issued a certificate: the operator's issuing CA ('ca') or the shared
-- pseudonym issuer ('pseudonyms', which does not name the operator). Each publishes its own CRL
-- and answers OCSP only for its own.
ALTER TABLE certificates ADD COLUMN issuer text NOT NULL DEFAULT 'ca' CHECK (issuer IN ('ca', 'pseudonyms'));
CREATE SEQUENCE pseudonym_crl_number;

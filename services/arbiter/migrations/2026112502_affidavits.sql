-- The affidavit that comes with a decision on an exchange of another kind (substitute receipt,
-- payment reversal or release order): AffidavitStatement JSON and the arbiter's CMS signature.
ALTER TABLE exchanges ADD COLUMN affidavit bytea, ADD COLUMN affidavit_signature bytea;

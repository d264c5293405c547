-- An abort of a delivery against payment gives no payment order at once: until objection_until
-- whoever holds the standard contract may show it (completed_contract, a serialized
-- StandardContract), which makes the order a release; after it, the reversal order is given. The
-- affidavit is written once (a conditional update), never changed.
ALTER TABLE exchanges ADD COLUMN objection_until timestamptz, ADD COLUMN completed_contract bytea;

-- Who a guarantee is between, as the parties are identified when they call: the subscriber id
-- (certificate subject serialNumber) or, for a pseudonym, its certificate subject. Only the
-- seller ends a guarantee (or a verdict between these two); only they read it. Guarantees given
-- before this have no recorded parties: only a verdict or their expiry ends them.
ALTER TABLE guarantees ADD COLUMN seller_party text NOT NULL DEFAULT '';
ALTER TABLE guarantees ADD COLUMN buyer_party text NOT NULL DEFAULT '';
-- One guarantee per signed order: a seller cannot reserve a buyer's limit twice with one order.
CREATE UNIQUE INDEX guarantees_one_per_order ON guarantees (order_sha256) WHERE seller_party <> '';

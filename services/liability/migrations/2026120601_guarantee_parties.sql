-- Who a guarantee is between, as the parties are identified when they call: the subscriber id
-- (certificate subject serialNumber) or, for a pseudonym, its certificate subject. Only the
-- seller ends a guarantee (or semper-arbiter's verdict between these two); only they read it.
-- Guarantees given before this have no recorded parties: only their expiry ends them.
ALTER TABLE guarantees ADD COLUMN seller_party text NOT NULL DEFAULT '';
ALTER TABLE guarantees ADD COLUMN buyer_party text NOT NULL DEFAULT '';
-- One guarantee per signed order: SHA-256 of the content the buyer's signature covers (not of the
-- container's bytes, which a seller can re-encode without touching the signature).
ALTER TABLE guarantees ADD COLUMN order_content_sha256 bytea;
CREATE UNIQUE INDEX guarantees_one_per_order ON guarantees (order_content_sha256)
  WHERE order_content_sha256 IS NOT NULL;

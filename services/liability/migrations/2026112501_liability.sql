-- SEMPER agreements and the guarantees given under them. `reserved` is the current liability:
-- the sum of the live guarantees' amounts, changed only together with them.
CREATE TABLE agreements (
  id                    text PRIMARY KEY,
  buyer                 text NOT NULL,  -- signer's certificate subject (may be a pseudonym)
  buyer_issuer          text NOT NULL,
  buyer_serial          text NOT NULL,
  currency              text NOT NULL,
  overall_limit         bigint NOT NULL CHECK (overall_limit > 0),
  per_transaction_limit bigint NOT NULL CHECK (per_transaction_limit > 0),
  valid_from            timestamptz NOT NULL,
  valid_until           timestamptz NOT NULL,
  applicable_law        text NOT NULL,
  conditions            text NOT NULL,
  state                 text NOT NULL CHECK (state IN ('active', 'suspended', 'terminated')),
  -- A last line of defence: no transaction can leave more reserved than the limit.
  reserved              bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= overall_limit),
  container             bytea NOT NULL,  -- the signed agreement as submitted
  signature             bytea NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now()
);
-- One agreement per buyer and currency at a time (terminated ones and expired ones excepted:
-- an expired one is terminated when a new one is registered).
CREATE UNIQUE INDEX agreements_one_per_currency ON agreements (buyer, buyer_issuer, currency)
  WHERE state IN ('active', 'suspended');

CREATE TABLE guarantees (
  id           text PRIMARY KEY,
  request_id   text NOT NULL UNIQUE,
  agreement_id text NOT NULL REFERENCES agreements (id),
  seller       text NOT NULL,
  order_sha256 bytea NOT NULL,
  amount       bigint NOT NULL CHECK (amount > 0),
  state        text NOT NULL CHECK (state IN ('live', 'settled', 'released', 'expired')),
  valid_until  timestamptz NOT NULL,
  issued_at    timestamptz NOT NULL DEFAULT now(),
  ended_at     timestamptz,
  statement    bytea NOT NULL,  -- GuaranteeStatement JSON
  signature    bytea NOT NULL
);
CREATE INDEX guarantees_live ON guarantees (valid_until) WHERE state = 'live';
CREATE INDEX guarantees_agreement ON guarantees (agreement_id, issued_at DESC);

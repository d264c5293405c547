-- Anonymous one-use credentials: kinds (one RSA key each), what was issued (the blinded
-- messages' hashes only: the CA never sees a token before it is redeemed), and the spent set.
CREATE TABLE token_kinds (
  id                   text PRIMARY KEY,
  issuer_subscriber_id text NOT NULL REFERENCES subscribers (id),
  name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  value_currency       text,
  value_minor          bigint,
  valid_from           timestamptz NOT NULL,
  valid_until          timestamptz NOT NULL,
  public_key           bytea NOT NULL,
  private_key          text NOT NULL,  -- encrypted PKCS#8 PEM (the CA key passphrase)
  statement            bytea NOT NULL,
  signature            bytea NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE token_issuances (
  id              bigserial PRIMARY KEY,
  kind_id         text NOT NULL REFERENCES token_kinds (id),
  blinded_sha256  bytea NOT NULL,
  issued_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX token_issuances_kind ON token_issuances (kind_id, id);

-- A token is its prepared message: spent once, whatever signature comes with it.
CREATE TABLE spent_tokens (
  kind_id                text NOT NULL REFERENCES token_kinds (id),
  message_sha256         bytea NOT NULL CHECK (length(message_sha256) = 32),
  redemption_id          text NOT NULL UNIQUE,
  acceptor_subscriber_id text NOT NULL,
  redeemed_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind_id, message_sha256)
);
CREATE INDEX spent_tokens_clearing ON spent_tokens (acceptor_subscriber_id, redeemed_at);

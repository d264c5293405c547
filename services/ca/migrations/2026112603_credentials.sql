-- Named credentials and their uses. `uses_left` is NULL for unlimited ones; the CHECK keeps a
-- credential from ever being used more often than it allows, whatever the code does.
CREATE TABLE credentials (
  id                   text PRIMARY KEY,
  issuer_subscriber_id text NOT NULL REFERENCES subscribers (id),
  holder_serial        text NOT NULL,
  holder_key_sha256    bytea NOT NULL,
  kind                 text NOT NULL CHECK (kind IN ('pass', 'ticket', 'membership', 'voucher')),
  uses_total           int NOT NULL CHECK (uses_total >= 0),
  uses_left            int CHECK (uses_left >= 0 AND uses_left <= uses_total),
  valid_from           timestamptz NOT NULL,
  valid_until          timestamptz NOT NULL,
  statement            bytea NOT NULL,
  signature            bytea NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credential_uses (
  redemption_id          text PRIMARY KEY,
  credential_id          text NOT NULL REFERENCES credentials (id),
  acceptor_subscriber_id text NOT NULL,
  presentation_sha256    bytea NOT NULL UNIQUE,  -- a presentation counts once
  used_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credential_uses_clearing ON credential_uses (acceptor_subscriber_id, used_at);

-- Certified mail. The row lock decides between delivery (a receipt before the deadline) and
-- non-delivery (the deadline first); the message is handed out only by the decision to deliver.
CREATE TABLE mails (
  id                   text PRIMARY KEY,
  sender_subject       text NOT NULL,
  recipient_subject    text NOT NULL,
  recipient_subscriber text NOT NULL,   -- subject serialNumber of the recipient's certificates
  message              bytea NOT NULL,  -- CMS EnvelopedData, never read by the notary
  message_sha256       bytea NOT NULL,
  origin_signature     bytea NOT NULL,
  deadline             timestamptz NOT NULL,
  state                text NOT NULL CHECK (state IN ('waiting', 'delivered', 'not_delivered')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  submission_statement bytea NOT NULL,
  submission_signature bytea NOT NULL,
  submission_index     bigint,
  decided_at           timestamptz,
  outcome_kind         text,
  outcome_statement    bytea,
  outcome_signature    bytea,
  outcome_index        bigint
);

-- Renewal (issue 23): a subscriber's certificates renewed on proof of its authentication key.
-- renewed_from: the authentication certificate whose holder asked (NULL for enrolments and
-- service certificates). A certificate is renewed once; a keyCompromise revocation of it reaches
-- what was renewed from it.
ALTER TABLE certificates ADD COLUMN renewed_from text REFERENCES certificates (serial);
CREATE INDEX certificates_renewed_from ON certificates (renewed_from) WHERE renewed_from IS NOT NULL;

-- Subscribers who may not renew: one of their certificates was revoked for keyCompromise. An
-- enrolment with a new code from an officer deletes the row (a row committed after that deletion
-- stays).
CREATE TABLE renewal_blocks (
  subscriber_id text PRIMARY KEY REFERENCES subscribers (id),
  blocked_at    timestamptz NOT NULL DEFAULT now(),
  serial        text NOT NULL
);

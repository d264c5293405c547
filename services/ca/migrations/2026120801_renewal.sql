-- Renewal (issue 23): a subscriber's certificates renewed on proof of its authentication key.
-- renewed_from: the authentication certificate whose holder asked (NULL for enrolments and
-- service certificates). A certificate is renewed once; a keyCompromise revocation of it reaches
-- what was renewed from it.
ALTER TABLE certificates ADD COLUMN renewed_from text REFERENCES certificates (serial);
CREATE INDEX certificates_renewed_from ON certificates (renewed_from) WHERE renewed_from IS NOT NULL;

-- Renewal epochs: every keyCompromise revocation of one of a subscriber's certificates starts a
-- new epoch for it; a certificate renews only in the epoch it was issued in, so after a
-- compromise only certificates enrolled since (with an officer's code) renew, and their renewals.
-- Kept beside the subscribers (not in their rows): a revocation takes a certificate's row first and
-- a renewal the subscriber's, and neither waits for the other's.
ALTER TABLE certificates ADD COLUMN renewal_epoch bigint NOT NULL DEFAULT 0;
CREATE TABLE renewal_epochs (
  subscriber_id text PRIMARY KEY REFERENCES subscribers (id),
  epoch         bigint NOT NULL,
  serial        text NOT NULL,  -- the latest certificate revoked for keyCompromise
  changed_at    timestamptz NOT NULL DEFAULT now()
);
-- Compromises from before this migration count: those subscribers renew after a new enrolment.
-- When a compromise was reported: the status change that made the reason keyCompromise (a hold or
-- a supersession turned keyCompromise keeps its revocation time).
INSERT INTO renewal_epochs (subscriber_id, epoch, serial)
SELECT DISTINCT ON (subscriber_id) subscriber_id, 1, serial
FROM certificates WHERE revocation_reason = 1 AND subscriber_id IS NOT NULL
ORDER BY subscriber_id, coalesce(status_changed_at, revoked_at) DESC;
-- ... and their certificates issued since their latest compromise (every subscriber certificate
-- before this migration came from an enrolment) are in that epoch.
UPDATE certificates c SET renewal_epoch = 1
FROM (SELECT subscriber_id, max(coalesce(status_changed_at, revoked_at)) AS at FROM certificates
      WHERE revocation_reason = 1 AND subscriber_id IS NOT NULL GROUP BY subscriber_id) AS k
WHERE c.subscriber_id = k.subscriber_id AND c.issuer = 'ca' AND c.issued_at > k.at;

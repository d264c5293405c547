-- Dispute cases. The claim and the answer are kept as signed (bytes and detached CMS); the
-- verdict as the arbiter signed it. A case's state only moves forward:
-- filed -> (awaiting-arbitrator ->) decided -> closed.
CREATE TABLE cases (
  id                     text PRIMARY KEY,
  kind                   int NOT NULL,
  state                  text NOT NULL CHECK (state IN ('filed', 'awaiting-arbitrator', 'decided', 'closed')),
  claimant               text NOT NULL,
  claimant_issuer        text NOT NULL,
  claimant_certificate   bytea NOT NULL,  -- the claim's signer, as verified when it was filed
  respondent             text NOT NULL,
  respondent_issuer      text NOT NULL,
  answer_deadline        timestamptz NOT NULL,
  claim                  bytea NOT NULL,
  claim_signature        bytea NOT NULL,
  answer                 bytea,
  answer_signature       bytea,
  findings               bytea,  -- a serialized semper.v1.Case holding only `findings`
  verdict                bytea,  -- VerdictStatement JSON
  verdict_signature      bytea,
  verdict_evidence       bytea,  -- serialized semper.v1.Evidence from semper-notary
  reveal_order           bytea,
  reveal_order_signature bytea,
  filed_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_due ON cases (answer_deadline) WHERE state = 'filed';
CREATE INDEX cases_decided ON cases (filed_at) WHERE state = 'decided';
CREATE INDEX cases_claimant ON cases (claimant, claimant_issuer);
CREATE INDEX cases_respondent ON cases (respondent, respondent_issuer);

-- Each case's history, in order; rows are only added.
CREATE TABLE case_events (
  seq     bigserial PRIMARY KEY,
  case_id text NOT NULL REFERENCES cases (id),
  event   text NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  note    text NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, seq);

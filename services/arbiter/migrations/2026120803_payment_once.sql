-- A payer's payment (provider, reference) belongs to the first of its exchanges naming it that
-- the arbiter decides: an originator who signs a second me1 for the same payment and aborts it
-- gets no order about that payment (the exchange that holds it decides its fate); a stranger who
-- names someone else's payment binds only its own key. Exchanges decided before this
-- version bind nothing here.
CREATE TABLE payments (
  payment_key bytea PRIMARY KEY,  -- SHA-256 of the payer's party, provider and reference (case-folded)
  me1_hash    bytea NOT NULL
);
-- Claims filed before claim_sha256 existed: the first case of each claim takes its hash, so that
-- none of them can be filed once more.
UPDATE cases SET claim_sha256 = sha256(claim)
  WHERE claim_sha256 IS NULL AND id IN (SELECT DISTINCT ON (sha256(claim)) id FROM cases ORDER BY sha256(claim), filed_at, id)
    AND NOT EXISTS (SELECT 1 FROM cases c2 WHERE c2.claim_sha256 = sha256(cases.claim));

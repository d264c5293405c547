-- The acceptor's own reference for a redemption (issue 22): the same acceptor retrying the same
-- token with the same reference gets the redemption it was given; NULL for redemptions without.
ALTER TABLE spent_tokens ADD COLUMN acceptor_reference text CHECK (length(acceptor_reference) <= 200);

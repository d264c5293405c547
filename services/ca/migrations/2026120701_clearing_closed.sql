-- The end of the latest period a clearing statement covered (issue 21, review): a token
-- redemption or credential use is never dated before it, so a statement, once signed, never
-- changes, even when replicas' clocks differ or a clock is set back. One row.
CREATE TABLE clearing_closed (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  until timestamptz NOT NULL
);
INSERT INTO clearing_closed (until) VALUES ('1970-01-01T00:00:00Z');

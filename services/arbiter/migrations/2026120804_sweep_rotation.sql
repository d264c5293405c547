-- When the sweeper last failed to decide or close a case: failing cases go to the back of the
-- queue, so that a hundred that can never be decided or closed do not hold back every later one.
ALTER TABLE cases ADD COLUMN swept_at timestamptz;

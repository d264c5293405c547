-- Finding an entry by its statement: an outcome appended by a decider that was killed before it
-- recorded the entry's index is found again instead of being appended a second time.
CREATE INDEX log_entries_statement_sha256 ON log_entries (kind, sha256(statement));

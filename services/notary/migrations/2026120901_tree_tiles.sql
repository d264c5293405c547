-- The Merkle tree, stored (issue "Trust under attack (2 of 2)", finding 9): the notary no longer
-- keeps the whole tree in memory nor reads every entry at start. Tile (level, idx) holds the
-- hashes of the complete subtrees of 2^level leaves numbered idx * 256 to idx * 256 + 255,
-- concatenated, 32 bytes each (the last tile of a level may hold fewer). Tiles are written in the
-- transaction that appends the entries; log_head.tiled is how many leaves they cover (entries
-- appended before this migration are tiled by the notary at its next start, in steps).
CREATE TABLE tree_tiles (
  level  smallint NOT NULL,
  idx    bigint   NOT NULL,
  hashes bytea    NOT NULL,
  PRIMARY KEY (level, idx)
);
ALTER TABLE log_head ADD COLUMN tiled bigint NOT NULL DEFAULT 0;

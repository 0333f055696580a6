-- Band-file compaction (miner/band_segments.py): the bucket keys of many committed units merged
-- into generations of segment files, one per khash range, under <database>.data/bands/segments/,
-- so a near-dedup task opens the few segments overlapping its range instead of one band file per
-- unit ever mined. band_files keeps one row per unit (the units the Parquet layout's views show).
CREATE TABLE band_segments (
    path       VARCHAR PRIMARY KEY,  -- relative to the bands folder
    generation BIGINT NOT NULL,
    level      INTEGER NOT NULL,     -- 0: merged from units' band files; L + 1: from generations of level L
    khash_low  BIGINT NOT NULL,      -- the khash range (inclusive) its keys lie in
    khash_high BIGINT NOT NULL,
    n_keys     BIGINT NOT NULL
);
-- Units whose keys are in a generation's segments (their own band files are then removed).
CREATE TABLE band_compacted (
    unit       VARCHAR PRIMARY KEY,  -- band_files.path
    generation BIGINT NOT NULL
);

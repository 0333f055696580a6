-- Near-dedup at scale (miner/neardup.py): the bucket keys of stored kept documents live as Parquet
-- files in `<database>.data/bands/`, one per mined unit, read by every later run's partitioned
-- decision instead of an in-memory index rebuilt from doc_minhash. `path` is relative to that folder.
-- doc_minhash.seq is from now on the document's ordinal: the global order of all mined documents
-- (duplicates take ordinals too, so kept documents' seq may have gaps); the earliest still wins.
CREATE TABLE band_files (
    path          VARCHAR PRIMARY KEY,
    source        VARCHAR,            -- the input whose kept documents it holds; NULL: rebuilt from doc_minhash
    first_ordinal BIGINT NOT NULL,
    n_documents   BIGINT NOT NULL,    -- ordinals the unit used (kept documents and duplicates)
    n_kept        BIGINT NOT NULL,
    run_id        VARCHAR
);

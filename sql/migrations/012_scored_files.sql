-- Scoring at scale (miner/score_units.py): with --layout parquet, each scored unit's prompts, fresh
-- scores and handled documents are Parquet files named `path` under
-- <database>.data/{prompts,scores,scored_docs}/, written by the scoring tasks and recorded here when
-- committed. The tables of those names are then views over the recorded files plus the rows written
-- inside the database (imported prompts, evaluation's continuation scores), kept in <table>_rows.
-- With --layout tables the scored rows are inserted into the tables and nothing is recorded here.
CREATE TABLE scored_files (
    path           VARCHAR PRIMARY KEY,
    unit           VARCHAR NOT NULL,  -- the band file (band_files.path) of the unit scored
    scorer         VARCHAR NOT NULL,
    scorer_version VARCHAR NOT NULL,
    n_documents    BIGINT NOT NULL,
    n_prompts      BIGINT NOT NULL,
    committed_at   TIMESTAMP NOT NULL
);

-- Mining tables. One row per input in `sources`; documents keep their duplicates (dup_of set).
CREATE TABLE runs (
    run_id      VARCHAR PRIMARY KEY,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    config_json VARCHAR NOT NULL,
    version     VARCHAR NOT NULL
);

-- Settings that must not change between runs over one database (dedup parameters).
CREATE TABLE settings (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE sources (
    source       VARCHAR PRIMARY KEY,  -- absolute path or URL
    crawl        VARCHAR,
    status       VARCHAR NOT NULL,     -- done | partial (some records unreadable) | failed
    n_records    BIGINT,
    n_documents  BIGINT,               -- documents stored, duplicates included
    n_duplicates BIGINT,
    error        VARCHAR,
    run_id       VARCHAR,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP
);

CREATE TABLE drops (
    source VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (source, reason)
);

CREATE TABLE documents (
    doc_id         VARCHAR PRIMARY KEY,  -- stable: hash of warc_file, offset and record id
    url            VARCHAR,
    crawl          VARCHAR,
    warc_file      VARCHAR NOT NULL,
    warc_record_id VARCHAR,
    warc_offset    BIGINT,
    fetch_time     TIMESTAMP,
    lang           VARCHAR,              -- ISO 639-1 where one exists, else the model's code
    script         VARCHAR,              -- ISO 15924
    lang_score     DOUBLE,
    text           VARCHAR NOT NULL,
    n_chars        INTEGER NOT NULL,
    text_hash      VARCHAR NOT NULL,     -- hash of the normalised text (exact dedup key)
    dup_of         VARCHAR               -- NULL when kept; else the kept doc_id it duplicates
);

-- MinHash signatures of kept documents, so later runs deduplicate against them.
CREATE TABLE doc_minhash (
    doc_id    VARCHAR PRIMARY KEY,
    seq       BIGINT NOT NULL,           -- insertion order: the earliest candidate wins
    signature BLOB NOT NULL
);

-- Toxicity scores (a cache keyed by text hash and scorer version) and prompts.
CREATE TABLE scores (
    text_hash      VARCHAR NOT NULL,  -- blake2b of the exact scored text
    scorer         VARCHAR NOT NULL,
    scorer_version VARCHAR NOT NULL,
    attribute      VARCHAR NOT NULL,  -- 'toxicity' plus any per-attribute outputs
    value          DOUBLE NOT NULL,
    PRIMARY KEY (text_hash, scorer, scorer_version, attribute)
);

CREATE TABLE prompts (
    prompt_id             VARCHAR NOT NULL,  -- stable: hash of doc_id, span offsets and text
    doc_id                VARCHAR NOT NULL,
    lang                  VARCHAR,
    span_start            INTEGER NOT NULL,  -- character offsets of the span in documents.text
    span_end              INTEGER NOT NULL,
    prompt                VARCHAR NOT NULL,
    continuation          VARCHAR NOT NULL,
    toxicity              DOUBLE NOT NULL,   -- score of the whole span
    prompt_toxicity       DOUBLE NOT NULL,
    continuation_toxicity DOUBLE NOT NULL,
    bucket                INTEGER NOT NULL,  -- index into the edges in settings 'prompts.bucket_edges'
    scorer                VARCHAR NOT NULL,
    scorer_version        VARCHAR NOT NULL,
    PRIMARY KEY (prompt_id, scorer)
);

-- Documents already turned into prompts by a scorer (also those that gave none).
CREATE TABLE scored_docs (
    doc_id    VARCHAR NOT NULL,
    scorer    VARCHAR NOT NULL,
    n_prompts INTEGER NOT NULL,
    PRIMARY KEY (doc_id, scorer)
);

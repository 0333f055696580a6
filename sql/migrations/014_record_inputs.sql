-- Targeted mining: inputs that are groups of single records of WARC files (from a record list, e.g.
-- `toxmine select`'s), what reading them cost, and what the index's languages turned out to be.
ALTER TABLE sources ADD COLUMN n_selected BIGINT;      -- a record group's records to fetch
ALTER TABLE sources ADD COLUMN bytes_fetched BIGINT;   -- bytes read for the input (network or disk)
ALTER TABLE sources ADD COLUMN bytes_whole BIGINT;     -- the size of the whole WARC file(s), when known

-- Per record group and WARC file it read records of: records to fetch, bytes fetched, the file's size.
CREATE TABLE source_files (
    source        VARCHAR NOT NULL,
    warc_file     VARCHAR NOT NULL,   -- as documents.warc_file
    n_selected    BIGINT NOT NULL,
    bytes_fetched BIGINT NOT NULL,
    bytes_whole   BIGINT,
    PRIMARY KEY (source, warc_file)
);

-- Per record group and language of the index (CLD2, as toxmine's code): records selected, fetched
-- whole, with a text that reached language ID, on which fastText agreed with the index, stored as documents
-- (near-duplicates included), and kept (stored and not a duplicate).
CREATE TABLE source_languages (
    source     VARCHAR NOT NULL,
    index_lang VARCHAR NOT NULL,
    selected   BIGINT NOT NULL,
    fetched    BIGINT NOT NULL,
    texts      BIGINT NOT NULL,
    agreed     BIGINT NOT NULL,
    stored     BIGINT NOT NULL,
    kept       BIGINT NOT NULL,
    PRIMARY KEY (source, index_lang)
);

-- Per index language: how far the index and fastText agree (agreed / texts), and the documents kept per
-- record selected: how many records to select for the documents wanted.
CREATE OR REPLACE VIEW targeting AS
SELECT index_lang AS lang,
       sum(selected) AS selected, sum(fetched) AS fetched, sum(texts) AS texts,
       sum(agreed) AS agreed, sum(stored) AS stored, sum(kept) AS kept,
       round(sum(agreed) / nullif(sum(texts), 0), 3) AS agreement,
       round(sum(kept) / nullif(sum(selected), 0), 3) AS kept_per_selected
FROM source_languages
GROUP BY index_lang
ORDER BY selected DESC, lang;

-- Bytes fetched by record groups beside the bytes of the whole WARC files they touched.
CREATE OR REPLACE VIEW targeting_cost AS
WITH files AS (
    SELECT warc_file, sum(n_selected) AS selected, sum(bytes_fetched) AS fetched, max(bytes_whole) AS whole
    FROM source_files GROUP BY warc_file
)
SELECT count(*) AS warc_files, sum(selected) AS records_selected,
       (SELECT sum(n_documents) FROM sources WHERE n_selected IS NOT NULL) AS documents,
       sum(fetched) AS bytes_fetched, sum(whole) AS bytes_whole,
       round(sum(fetched) / nullif(sum(whole), 0), 4) AS fetched_share
FROM files;

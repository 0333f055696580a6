-- Analyst views over the mining tables.
CREATE OR REPLACE VIEW kept_documents AS
SELECT * FROM documents WHERE dup_of IS NULL;

CREATE OR REPLACE VIEW lang_counts AS
SELECT lang,
       count(*) FILTER (WHERE dup_of IS NULL)     AS kept,
       count(*) FILTER (WHERE dup_of IS NOT NULL) AS duplicates,
       sum(n_chars) FILTER (WHERE dup_of IS NULL) AS kept_chars,
       round(avg(lang_score), 3)                  AS mean_lang_score
FROM documents
GROUP BY lang
ORDER BY kept DESC, lang;

CREATE OR REPLACE VIEW drop_reasons AS
SELECT reason, sum(n) AS n, count(DISTINCT source) AS sources
FROM drops
GROUP BY reason
ORDER BY n DESC, reason;

CREATE OR REPLACE VIEW source_status AS
SELECT status, count(*) AS sources, sum(n_records) AS records, sum(n_documents) AS documents
FROM sources
GROUP BY status
ORDER BY status;

-- Analyst views over prompts and scores.
CREATE OR REPLACE VIEW prompt_buckets AS
SELECT scorer, lang, bucket, count(*) AS prompts,
       round(avg(toxicity), 4) AS mean_toxicity,
       round(min(toxicity), 4) AS min_toxicity,
       round(max(toxicity), 4) AS max_toxicity
FROM prompts
GROUP BY scorer, lang, bucket
ORDER BY scorer, lang, bucket;

CREATE OR REPLACE VIEW prompt_lang_counts AS
SELECT scorer, lang, count(*) AS prompts, count(DISTINCT doc_id) AS documents,
       round(avg(toxicity), 4) AS mean_toxicity,
       count(*) FILTER (WHERE toxicity >= 0.5) AS toxic_prompts
FROM prompts
GROUP BY scorer, lang
ORDER BY scorer, prompts DESC, lang;

CREATE OR REPLACE VIEW scorer_coverage AS
SELECT sc.scorer, d.lang,
       count(*) AS kept_documents,
       count(s.doc_id) AS scored_documents,
       round(count(s.doc_id) / count(*), 4) AS coverage
FROM (SELECT DISTINCT scorer FROM scored_docs) sc
CROSS JOIN documents d
LEFT JOIN scored_docs s ON s.doc_id = d.doc_id AND s.scorer = sc.scorer
WHERE d.dup_of IS NULL
GROUP BY sc.scorer, d.lang
ORDER BY sc.scorer, d.lang;

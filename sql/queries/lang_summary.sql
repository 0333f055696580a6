-- Per language: kept documents, duplicates, prompts and toxic prompts (toxicity >= 0.5) of one scorer.
-- param: scorer = lexicon
SELECT d.lang,
       count(*) FILTER (WHERE d.dup_of IS NULL)     AS kept_documents,
       count(*) FILTER (WHERE d.dup_of IS NOT NULL) AS duplicates,
       coalesce(max(p.prompts), 0)                  AS prompts,
       coalesce(max(p.toxic_prompts), 0)            AS toxic_prompts
FROM documents d
LEFT JOIN (
    SELECT lang, count(*) AS prompts, count(*) FILTER (WHERE toxicity >= 0.5) AS toxic_prompts
    FROM prompts WHERE scorer = $scorer GROUP BY lang
) p USING (lang)
GROUP BY d.lang
ORDER BY kept_documents DESC, d.lang;

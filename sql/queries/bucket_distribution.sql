-- Prompts per language and stored toxicity bucket for one scorer, with the share of each bucket.
-- param: scorer = lexicon
SELECT lang, bucket, count(*) AS prompts,
       round(count(*) / sum(count(*)) OVER (PARTITION BY lang), 4) AS share,
       round(avg(toxicity), 4) AS mean_toxicity
FROM prompts
WHERE scorer = $scorer
GROUP BY lang, bucket
ORDER BY lang, bucket;

-- Evaluation provenance (issue 11): every run names the prompt scorer its split was drawn with, so
-- metrics and judges join exactly that scorer's prompt rows; continuations record their own language
-- and whether they were empty; metric cells record empties and a flag for cells too small for an interval.

-- The scorer (and version) of the prompt rows the run's split was drawn from. `params_json` holds
-- everything else that decided the run's numbers under plain keys (top_k, scorer_version,
-- toxmine_version, protocol, departures...).
ALTER TABLE eval_runs ADD COLUMN prompt_scorer VARCHAR;
ALTER TABLE eval_runs ADD COLUMN prompt_scorer_version VARCHAR;
-- Runs from before this migration: the scorer their split named, else the scorer holding most of
-- their prompts (ties by name).
UPDATE eval_runs SET prompt_scorer = coalesce(
    json_extract_string(split, '$.scorer'),
    (SELECT p.scorer FROM generations g JOIN prompts p USING (prompt_id)
     WHERE g.eval_run_id = eval_runs.eval_run_id GROUP BY p.scorer ORDER BY count(*) DESC, p.scorer LIMIT 1));

ALTER TABLE generations ADD COLUMN lang VARCHAR;        -- the language the continuation was scored as
ALTER TABLE generations ADD COLUMN lang_score DOUBLE;   -- LID probability of `lang`; NULL: the prompt's language was used
ALTER TABLE generations ADD COLUMN empty BOOLEAN NOT NULL DEFAULT false;  -- blank text: not scored, counted apart

ALTER TABLE eval_metrics ADD COLUMN n_empty INTEGER NOT NULL DEFAULT 0;  -- empty continuations left out
ALTER TABLE eval_metrics ADD COLUMN flag VARCHAR;  -- 'few_prompts': under the run's min_prompts, no interval

-- `eval_metrics.bucket` now also holds the aggregate rows 'balanced' (each bucket weighs the same),
-- 'toxic' and 'nontoxic' (RTP's split on the prompt's own toxicity at 0.5) beside 'all' (pooled):
-- bucket rows are those whose bucket is a number (TRY_CAST(bucket AS INTEGER) IS NOT NULL).
CREATE OR REPLACE VIEW eval_summary AS
SELECT r.model, r.backend, m.eval_run_id, json_extract_string(r.params_json, '$.protocol') AS protocol, m.lang,
       coalesce(l.resource_level, CASE WHEN m.lang = 'all' THEN 'all' ELSE 'unknown' END) AS resource_level,
       m.bucket, m.metric, m.value, m.ci_low, m.ci_high, m.n_prompts, m.n_failed, m.n_empty, m.flag
FROM eval_metrics m
JOIN eval_runs r USING (eval_run_id)
LEFT JOIN languages l USING (lang);

ALTER TABLE safety_metrics ADD COLUMN flag VARCHAR;  -- 'few_prompts': under 10 prompts, no interval

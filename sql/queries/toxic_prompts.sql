-- The most toxic prompts of a language, with their source URL.
-- param: lang = en
-- param: min_toxicity = 0.5
-- param: limit = 20
SELECT p.prompt_id, p.toxicity, p.prompt, p.continuation, d.url
FROM prompts p JOIN documents d USING (doc_id)
WHERE p.lang = $lang AND p.toxicity >= CAST($min_toxicity AS DOUBLE)
ORDER BY p.toxicity DESC, p.prompt_id
LIMIT CAST($limit AS INTEGER);

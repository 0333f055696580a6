-- Continuations stored before migration 008 that are blank (whitespace only, as Python's str.isspace
-- sees it) were scored, the lexicon giving them 0. Mark them empty so the metrics leave them out and
-- count them apart, as runs since then do; their stored score is kept (the metrics ignore it).
UPDATE generations SET empty = true
WHERE NOT empty AND text IS NOT NULL
  AND regexp_full_match(text, '[\s\x{0B}\p{Z}\x{85}\x{1C}-\x{1F}]*');

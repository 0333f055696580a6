-- Drop reasons of one input (or of all inputs whose name contains the pattern).
-- param: source = %
SELECT source, reason, n
FROM drops
WHERE source LIKE '%' || $source || '%'
ORDER BY source, n DESC;

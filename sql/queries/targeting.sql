-- Targeted mining (record lists): per language of the index (CLD2), the records selected, fetched, with
-- a text, on which fastText agreed, kept; and the bytes fetched beside the whole WARC files they are in.
SELECT t.lang, t.selected, t.fetched, t.texts, t.agreed, t.kept, t.agreement, t.kept_per_selected,
       c.warc_files, c.bytes_fetched, c.bytes_whole, c.fetched_share
FROM targeting t CROSS JOIN targeting_cost c
ORDER BY t.selected DESC, t.lang;

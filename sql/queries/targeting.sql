-- Targeted mining (record lists): per language of the index (CLD2), the records selected, fetched, with a
-- text that reached language ID, on which fastText agreed with the index, and stored as documents (near-
-- duplicates included); agreement = agreed / texts. The bytes are in the query targeting_cost.
SELECT lang, selected, fetched, texts, agreed, stored, agreement, stored_per_selected
FROM targeting
ORDER BY selected DESC, lang;

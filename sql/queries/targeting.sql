-- Targeted mining (record lists): per language of the index (CLD2), the records selected, fetched, with a
-- text that reached language ID, on which fastText agreed with the index, stored as documents (near-
-- duplicates included) and kept (not duplicates); agreement = agreed / texts. The bytes: query targeting_cost.
SELECT lang, selected, fetched, texts, agreed, stored, kept, agreement, kept_per_selected
FROM targeting
ORDER BY selected DESC, lang;

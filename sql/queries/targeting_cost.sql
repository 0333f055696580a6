-- Targeted mining (record lists): the WARC files record groups read records of, the records selected,
-- the documents stored, and the bytes fetched beside the size of those whole files.
SELECT warc_files, records_selected, documents, bytes_fetched, bytes_whole, fetched_share
FROM targeting_cost;

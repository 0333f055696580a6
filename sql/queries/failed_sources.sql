-- Inputs that failed or were read only in part, with the error naming file and offset.
SELECT source, status, n_records, n_documents, error, finished_at
FROM sources
WHERE status != 'done'
ORDER BY finished_at DESC, source;

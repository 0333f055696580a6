-- Which extractor produced each document's text (`--extractor`) and its versions (the library's,
-- and the algorithm's own for toxmine's `fast`). The full identity, parameters included, is in
-- the run's config_json under extract.identity. NULL: stored before toxmine recorded it; every
-- such document was extracted by trafilatura (favor_precision, the only extractor then).
-- In the Parquet layout `documents` is a view over files that carry their own columns: the
-- store skips these two statements there (see Store._migrate).
ALTER TABLE documents ADD COLUMN extractor VARCHAR;
ALTER TABLE documents ADD COLUMN extractor_version VARCHAR;

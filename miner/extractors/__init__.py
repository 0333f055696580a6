"""Main-text extractors, one module each; `catalog` names them. Imports nothing: the extraction
sandbox's child loads one extractor module without the rest of toxmine."""

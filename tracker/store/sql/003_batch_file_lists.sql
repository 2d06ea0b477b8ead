-- Migration 003: the files of a batch, and the sha256 of each, as lists (VARCHAR[], same
-- order) instead of '; '-separated text, which a file named 'a; b.csv' made ambiguous.
-- Existing rows are split on '; ' (a name that held '; ' before this migration stays split).
ALTER TABLE batches ALTER COLUMN files SET DATA TYPE VARCHAR[] USING string_split(files, '; ');
ALTER TABLE batches ALTER COLUMN sha256 SET DATA TYPE VARCHAR[] USING string_split(sha256, '; ');

-- Run history, migration 006: the key messages of each succeeded run (JSON: [{"text",
-- "footnotes", "sources", "kind", "score"}], the sentences of the briefing's first
-- key_messages section), beside its key figures, so the e-mail and the archive page can
-- show them without rendering again. NULL for runs recorded before this migration.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS key_messages TEXT;

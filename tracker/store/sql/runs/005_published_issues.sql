-- Run history, migration 005: drafts and published issues (issue 14, item 2).
--
-- `tracker brief` renders a draft; `tracker brief --publish` and the scheduler publish an
-- issue. Only a published run takes an issue number, counts for the schedule's catch-up rule,
-- is "the previous briefing" of the next one and owes a delivery. A draft's `issue` is NULL.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS published BOOLEAN DEFAULT false;

-- The editor's note (`--note FILE.md`) as Markdown, kept with the run so a delivery of the
-- issue carries it; NULL without a note.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS note TEXT;

-- Runs recorded before this migration: every current run (not --as-of) was an issue, numbered
-- and compared against, so it stays one with its number. An --as-of render never counted (it
-- was never the previous briefing nor counted for the schedule): it becomes a draft, and keeps
-- the number it printed in `issue` so its old manifest still reads as written.
UPDATE report_runs SET published = (as_of IS NULL);

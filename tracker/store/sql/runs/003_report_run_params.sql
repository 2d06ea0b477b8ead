-- Run history, migration 003: the parameter values of a briefing variant (tracker.briefing.variants),
-- e.g. {"geography": "KAZ"} (canonical JSON, keys sorted); NULL for a briefing without
-- parameters. Issue numbers and "previous briefing" comparisons are counted per variant.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS params TEXT;

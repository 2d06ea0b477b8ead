-- Run history, migration 001: one row per briefing run. This schema lives in the companion
-- file <db>.runs.duckdb beside the main database (tracker/store/sql/runs/ has its own numbering),
-- written only in short transactions, so rendering needs the main file only read-only and
-- works while analysts hold read-only sessions on it.

CREATE SEQUENCE IF NOT EXISTS report_run_ids START 1;

-- One row per `tracker brief` run of one briefing. The row is inserted as 'running' before
-- anything is rendered and updated at the end, so a killed render stays 'running' (never
-- 'succeeded') unless the scheduler that killed it marks it 'failed'. A succeeded run keeps
-- what the next issue compares against.
CREATE TABLE IF NOT EXISTS report_runs (
    id                BIGINT PRIMARY KEY DEFAULT nextval('report_run_ids'),
    report            TEXT NOT NULL,       -- reports/<report>.toml
    status            TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at        TIMESTAMP NOT NULL,  -- UTC
    finished_at       TIMESTAMP,           -- UTC; NULL while running (or killed)
    briefing_date     DATE NOT NULL,       -- the date printed on the cover
    as_of             TIMESTAMP,           -- --as-of given (UTC), NULL for a current run
    data_cutoff       TIMESTAMP NOT NULL,  -- vintages recorded up to here were read
    data_as_of        TIMESTAMP,           -- newest recorded_at the briefing used
    issue             INTEGER,             -- 1 + earlier succeeded current runs
    formats           TEXT NOT NULL,       -- 'pdf,html'
    output_dir        TEXT,
    outputs           TEXT,                -- JSON: [{"file", "sha256"}]
    key_figures       TEXT,                -- JSON: the key figures, for the next issue
    definition_sha256 TEXT NOT NULL,
    pid               INTEGER,             -- process that rendered it
    error             TEXT,                -- why a failed run failed
    triggered_by      TEXT NOT NULL DEFAULT 'manual'
                      CHECK (triggered_by IN ('manual', 'scheduled', 'catch-up', 'retry')),
    scheduled_for     TIMESTAMP,           -- UTC due time the scheduler ran it for
    attempt           INTEGER NOT NULL DEFAULT 1  -- 1, then 2... for the scheduler's retries
);

-- Run history, migration 002: deliveries of rendered briefings (tracker deliver, and the
-- scheduler after each run): one row per attempt of each channel.

CREATE SEQUENCE IF NOT EXISTS delivery_ids START 1;

CREATE TABLE IF NOT EXISTS deliveries (
    id          BIGINT PRIMARY KEY DEFAULT nextval('delivery_ids'),
    report      TEXT NOT NULL,
    run_id      BIGINT,                -- report_runs.id of the briefing delivered
    channel     TEXT NOT NULL CHECK (channel IN ('outbox', 'email', 'failure-notice')),
    recipients  TEXT,                  -- comma-separated addresses; the outbox path for 'outbox'
    status      TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'skipped')),
    attempt     INTEGER NOT NULL,      -- 1, 2, ... (bounded retries)
    error       TEXT,                  -- why it failed or was skipped
    recorded_at TIMESTAMP NOT NULL     -- UTC
);

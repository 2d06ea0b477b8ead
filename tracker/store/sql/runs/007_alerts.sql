-- Run history, migration 007: alerts (reports/alerts/*.toml). In the run history, not the
-- main database, for the reason runs and deliveries are there: an alert is recorded by the
-- scheduler and by `tracker alerts check` while analysts may hold the main file read-only
-- for hours, and by ingest right after its own transaction, in a short write of its own.

-- One row per (alert, event, recipient): claimed as 'sending' (committed) before the
-- message goes to the SMTP server, marked 'sent' after the server accepted it; 'failed'
-- stays owed and is sent at the next check. A row left 'sending' by a process that is gone
-- is sent again with the same message_id (at-least-once, as for deliveries). `event` is the
-- event's key: what happened to which point (e.g. 'new_figure|gg_mobilised|GG|WLD|2025|src').
CREATE TABLE IF NOT EXISTS alerts_sent (
    alert       TEXT NOT NULL,         -- the definition's name (its file name without .toml)
    event       TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- target_reached, revision, stale, new_figure
    summary     TEXT NOT NULL,         -- the event in one line, as the e-mail says it
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    tries       INTEGER NOT NULL,
    pid         INTEGER NOT NULL,      -- the process that claimed it last
    updated_at  TIMESTAMP NOT NULL,    -- UTC
    error       TEXT,                  -- why the last try failed
    PRIMARY KEY (alert, event, recipient)
);

-- When each alert was first checked: new_figure and revision count only batches after
-- `since_batch` (the newest batch then), so a new definition does not announce every
-- figure already in the database.
CREATE TABLE IF NOT EXISTS alert_baselines (
    alert       TEXT PRIMARY KEY,
    since_batch BIGINT NOT NULL,       -- batches.id; 0 for an empty database
    since       TIMESTAMP NOT NULL     -- UTC
);

-- Run history, migration 004: delivery as an obligation. A scheduled run (triggered_by
-- scheduled, catch-up or retry) that succeeds owes a delivery: report_runs.delivery is set
-- to 'pending' in the same statement that marks it succeeded, and to 'delivered' once the
-- outbox holds it and every recipient has it. Runs recorded before this migration, and
-- manual runs, owe nothing (NULL). The scheduler delivers every 'pending' run (on start,
-- on catch-up, in --once, after each run), so a scheduler killed between render and e-mail
-- loses nothing.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS delivery TEXT;  -- NULL, 'pending', 'delivered'

-- One row per (run, recipient) of an owed delivery: claimed as 'sending' (committed) before
-- the message goes to the SMTP server, marked 'sent' after the server accepted it. A row
-- left 'sending' by a process that is gone means the outcome is unknown: it is sent again
-- with the same message_id, derived from (briefing, run id, recipient), so the recipient's
-- mail client can drop the copy.
CREATE TABLE IF NOT EXISTS delivery_recipients (
    run_id      BIGINT NOT NULL,       -- report_runs.id
    report      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    tries       INTEGER NOT NULL,      -- claims so far (each claim is up to 1 + retries sends)
    pid         INTEGER NOT NULL,      -- the process that claimed it last
    updated_at  TIMESTAMP NOT NULL,    -- UTC
    error       TEXT,                  -- why the last try failed
    PRIMARY KEY (run_id, recipient)
);

-- Run history, migration 008: the machine each process ran on (socket.gethostname()),
-- beside every pid. On a team store several machines share one run history, and a pid
-- means something only on its own machine: a row of this machine is judged by its pid, a
-- row of another machine counts as alive until it is older than a bound (README, "Team
-- store"; `run_history.claimant_gone`). NULL for rows recorded before this migration: they
-- are judged by their pid, as before.
-- Plain ADD COLUMN (no constraint, no default): it runs on a DuckLake catalog as written.
ALTER TABLE report_runs ADD COLUMN IF NOT EXISTS host TEXT;          -- where `pid` rendered it
ALTER TABLE delivery_recipients ADD COLUMN IF NOT EXISTS host TEXT;  -- where `pid` claimed it
ALTER TABLE alerts_sent ADD COLUMN IF NOT EXISTS host TEXT;          -- where `pid` claimed it

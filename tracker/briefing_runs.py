"""Briefing runs in `report_runs` (migration 002): record a run as 'running', close it as
'succeeded' or 'failed', list the last run of each briefing.

Layer 2: imports store. Each statement is a named constant run through `store.query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import polars as pl

from tracker import store

HAS_RUNS_TABLE = """
SELECT count(*) AS n FROM duckdb_tables()
WHERE table_name = 'report_runs' AND schema_name = 'main'
"""

INSERT_RUN = """
INSERT INTO report_runs (report, status, started_at, briefing_date, as_of, data_cutoff,
                         formats, definition_sha256, pid)
VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""

FINISH_RUN = """
UPDATE report_runs
SET status = $2, finished_at = $3, data_as_of = $4, issue = $5, output_dir = $6,
    outputs = $7, key_figures = $8, error = $9
WHERE id = $1
RETURNING id
"""

# The newest run of each briefing, and its newest succeeded run.
LAST_RUNS = """
SELECT r.report, r.id, r.status, r.started_at, r.finished_at, r.briefing_date, r.issue,
       r.output_dir, r.outputs, r.error, s.finished_at AS last_success_at,
       s.output_dir AS last_success_dir, s.issue AS last_success_issue
FROM report_runs AS r
LEFT JOIN (
    SELECT * FROM report_runs WHERE status = 'succeeded'
    QUALIFY row_number() OVER (PARTITION BY report ORDER BY started_at DESC, id DESC) = 1
) AS s ON s.report = r.report
QUALIFY row_number() OVER (PARTITION BY r.report ORDER BY r.started_at DESC, r.id DESC) = 1
ORDER BY r.report
"""


def has_runs_table(conn: store.Connection) -> bool:
    """True when migration 002 (report_runs) has been applied."""
    return bool(store.query(conn, HAS_RUNS_TABLE)["n"][0])


def insert_run(
    conn: store.Connection,
    *,
    report: str,
    started_at: datetime,
    briefing_date: date,
    as_of: datetime | None,
    cutoff: datetime,
    formats: Sequence[str],
    definition_sha256: str,
    pid: int,
) -> int:
    """Record a run as 'running'; returns its id."""
    frame = store.query(
        conn,
        INSERT_RUN,
        [report, started_at, briefing_date, as_of, cutoff, ",".join(formats),
         definition_sha256, pid],
    )  # fmt: skip
    return int(frame["id"][0])


def finish_run(
    conn: store.Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    data_as_of: datetime | None = None,
    issue: int | None = None,
    output_dir: str | None = None,
    outputs: str | None = None,
    key_figures: str | None = None,
    error: str | None = None,
) -> None:
    """Mark run `run_id` succeeded or failed, with what it produced or why it failed."""
    store.query(
        conn,
        FINISH_RUN,
        [run_id, status, finished_at, data_as_of, issue, output_dir, outputs, key_figures,
         error],
    )  # fmt: skip


def last_runs(conn: store.Connection) -> pl.DataFrame:
    """The newest run of each briefing, with its newest succeeded run."""
    return store.query(conn, LAST_RUNS)

"""The DuckDB store: connection, migrations (sql/), catalog sync, batches, user SQL, run history."""

from tracker.store.batches import OBSERVATION_COLUMNS, refresh_latest_points, write_batch
from tracker.store.connection import (
    Connection,
    QueryRows,
    attach_run_history,
    connect,
    connect_run_history,
    create_or_open,
    has_table,
    query,
    query_rows,
    read_run_history,
    run_history_path,
    transaction,
    utc_now,
)
from tracker.store.run_history import (
    fail_unfinished,
    finish_run,
    insert_run,
    last_runs,
    last_successes,
    newest_success,
    run_by_id,
    runs_of_process,
    success_before,
)
from tracker.store.sync import catalog, initialise, sync_definitions
from tracker.store.user_sql import lock_down, run_user_sql

__all__ = [
    "OBSERVATION_COLUMNS",
    "refresh_latest_points",
    "write_batch",
    "Connection",
    "QueryRows",
    "attach_run_history",
    "connect",
    "connect_run_history",
    "create_or_open",
    "has_table",
    "query",
    "query_rows",
    "read_run_history",
    "run_history_path",
    "transaction",
    "utc_now",
    "fail_unfinished",
    "finish_run",
    "insert_run",
    "last_runs",
    "last_successes",
    "newest_success",
    "run_by_id",
    "runs_of_process",
    "success_before",
    "catalog",
    "initialise",
    "sync_definitions",
    "lock_down",
    "run_user_sql",
]

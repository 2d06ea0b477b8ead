"""The DuckDB store: connection, migrations (sql/), catalog sync, batches, user SQL, run history."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.store.batches import (
        OBSERVATION_COLUMNS,
        refresh_latest_points,
        second_sources,
        withdraw_point,
        write_batch,
    )
    from tracker.store.connection import (
        Connection,
        QueryRows,
        attach_run_history,
        claim_writes,
        connect,
        connect_run_history,
        create_or_open,
        create_run_history,
        has_table,
        next_id,
        query,
        query_rows,
        read_run_history,
        run_history_path,
        run_history_problem,
        settle_run_history,
        transaction,
        utc_now,
    )
    from tracker.store.fx_rates import FxRate, write_fx_rates
    from tracker.store.projects import (
        PROJECT_COLUMNS,
        DerivedFigure,
        ProjectCounts,
        assign_projects_batch,
        current_points,
        derived_figures,
        write_projects,
    )
    from tracker.store.retry import retried, run_history_write, write_transaction
    from tracker.store.run_history import (
        fail_dead_runs,
        fail_unfinished,
        finish_run,
        insert_run,
        last_runs,
        last_successes,
        newest_success,
        next_issue,
        process_alive,
        published_issues,
        run_by_id,
        runs_in_progress,
        runs_of_process,
        success_before,
    )
    from tracker.store.sync import catalog, initialise, record_source, sync_definitions
    from tracker.store.user_sql import SqlOptions, SqlOutcome, UserSql, lock_down, open_user_sql

# Each public name and the module that defines it. A name is imported when first used, so a
# command loads only the store modules it needs (`tracker sql` neither the catalog sync nor
# the batch writer): start-up time, issue 10.
_HOMES: dict[str, str] = {
    "OBSERVATION_COLUMNS": "batches",
    "refresh_latest_points": "batches",
    "second_sources": "batches",
    "withdraw_point": "batches",
    "write_batch": "batches",
    "FxRate": "fx_rates",
    "write_fx_rates": "fx_rates",
    "Connection": "connection",
    "PROJECT_COLUMNS": "projects",
    "DerivedFigure": "projects",
    "ProjectCounts": "projects",
    "assign_projects_batch": "projects",
    "current_points": "projects",
    "derived_figures": "projects",
    "write_projects": "projects",
    "QueryRows": "connection",
    "attach_run_history": "connection",
    "connect": "connection",
    "connect_run_history": "connection",
    "create_or_open": "connection",
    "create_run_history": "connection",
    "claim_writes": "connection",
    "has_table": "connection",
    "next_id": "connection",
    "query": "connection",
    "query_rows": "connection",
    "read_run_history": "connection",
    "run_history_path": "connection",
    "run_history_problem": "connection",
    "settle_run_history": "connection",
    "transaction": "connection",
    "utc_now": "connection",
    "retried": "retry",
    "run_history_write": "retry",
    "write_transaction": "retry",
    "fail_dead_runs": "run_history",
    "fail_unfinished": "run_history",
    "finish_run": "run_history",
    "insert_run": "run_history",
    "last_runs": "run_history",
    "last_successes": "run_history",
    "newest_success": "run_history",
    "next_issue": "run_history",
    "process_alive": "run_history",
    "published_issues": "run_history",
    "run_by_id": "run_history",
    "runs_in_progress": "run_history",
    "runs_of_process": "run_history",
    "success_before": "run_history",
    "catalog": "sync",
    "initialise": "sync",
    "record_source": "sync",
    "sync_definitions": "sync",
    "SqlOptions": "user_sql",
    "SqlOutcome": "user_sql",
    "UserSql": "user_sql",
    "lock_down": "user_sql",
    "open_user_sql": "user_sql",
}

__all__ = [
    "OBSERVATION_COLUMNS",
    "PROJECT_COLUMNS",
    "DerivedFigure",
    "ProjectCounts",
    "assign_projects_batch",
    "current_points",
    "derived_figures",
    "write_projects",
    "refresh_latest_points",
    "second_sources",
    "withdraw_point",
    "write_batch",
    "FxRate",
    "write_fx_rates",
    "Connection",
    "QueryRows",
    "attach_run_history",
    "connect",
    "connect_run_history",
    "create_or_open",
    "create_run_history",
    "claim_writes",
    "has_table",
    "next_id",
    "query",
    "query_rows",
    "read_run_history",
    "run_history_path",
    "run_history_problem",
    "settle_run_history",
    "transaction",
    "utc_now",
    "retried",
    "run_history_write",
    "write_transaction",
    "fail_dead_runs",
    "fail_unfinished",
    "finish_run",
    "insert_run",
    "last_runs",
    "last_successes",
    "newest_success",
    "next_issue",
    "process_alive",
    "published_issues",
    "run_by_id",
    "runs_in_progress",
    "runs_of_process",
    "success_before",
    "catalog",
    "initialise",
    "record_source",
    "sync_definitions",
    "SqlOptions",
    "SqlOutcome",
    "UserSql",
    "lock_down",
    "open_user_sql",
]


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

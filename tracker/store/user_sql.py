"""`tracker sql`: a user's SQL text run read-only and locked down, or in one transaction.

The last statement's rows come back as plain Python values in batches (no polars), so the
command line writes them as DuckDB hands them over.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tracker.errors import QueryError
from tracker.store.batches import refresh_latest_points
from tracker.store.connection import (
    Connection,
    DatabaseError,
    QueryRows,
    first_line,
    pending_rows,
)

# Rows fetched from DuckDB at a time: few enough that memory stays flat on any result.
BATCH_ROWS = 10_000


def run_user_sql(conn: Connection, text: str, *, write: bool) -> QueryRows | None:
    """Run a user's SQL text (one or more statements); the last statement's rows, if any.

    Without `write` the connection must be read-only and locked down (see `lock_down`), and
    the rows are fetched while the caller reads the batches: read them before using `conn`
    again. With `write` all statements run in one transaction, rolled back if any fails,
    latest_points is rebuilt in it, and the rows are read before it commits.
    """
    try:
        statements = conn.extract_statements(text)
    except DatabaseError as error:
        raise QueryError(f"SQL not understood: {first_line(str(error))}") from None
    if not statements:
        raise QueryError("No SQL statement given.")
    try:
        if write:
            conn.execute("BEGIN TRANSACTION")
        for statement in statements[:-1]:
            conn.execute(statement.query)
            conn.complete()
        conn.execute(statements[-1].query)
        if not conn.description:
            conn.complete()
            result = None
        elif write:
            result = pending_rows(conn, [conn.fetchall()])
        else:
            return pending_rows(conn, _batches(conn))
        if write:
            refresh_latest_points(conn)  # the statements may have changed observations
            conn.execute("COMMIT")
        return result
    except DatabaseError as error:
        if write:
            conn.execute("ROLLBACK")
        raise _query_error(error, write=write) from None


def _batches(conn: Connection) -> Iterator[list[tuple[Any, ...]]]:
    try:
        while batch := conn.fetchmany(BATCH_ROWS):
            yield batch
    except DatabaseError as error:
        raise _query_error(error, write=False) from None


def _query_error(error: DatabaseError, *, write: bool) -> QueryError:
    message = first_line(str(error))
    if not write and _is_write_refusal(message):
        return QueryError(
            f"Refused: {message}. `tracker sql` is read-only; add --write to change data."
        )
    return QueryError(f"SQL error: {message}")


def _is_write_refusal(message: str) -> bool:
    lowered = message.lower()
    return any(
        phrase in lowered
        for phrase in ("read-only", "read only", "lock_configuration", "external access")
    )


def lock_down(conn: Connection) -> None:
    """Forbid files, network and settings changes on a read-only user connection."""
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")

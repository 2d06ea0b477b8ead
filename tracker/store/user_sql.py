"""`tracker sql`: a user's SQL text run read-only and locked down, or in one transaction."""

from __future__ import annotations

import polars as pl

from tracker.errors import QueryError
from tracker.store.batches import refresh_latest_points
from tracker.store.connection import Connection, DatabaseError, first_line


def run_user_sql(conn: Connection, text: str, *, write: bool) -> pl.DataFrame | None:
    """Run a user's SQL text (one or more statements); the last statement's result, if any.

    Without `write` the connection must be read-only and locked down (see `lock_down`); with
    `write` all statements run in one transaction, rolled back if any fails, and
    latest_points is rebuilt in it.
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
        result: pl.DataFrame | None = None
        for statement in statements:
            relation = conn.sql(statement.query)
            result = relation.pl() if relation is not None else None
        if write:
            refresh_latest_points(conn)  # the statements may have changed observations
            conn.execute("COMMIT")
        return result
    except DatabaseError as error:
        if write:
            conn.execute("ROLLBACK")
        message = first_line(str(error))
        if not write and _is_write_refusal(message):
            raise QueryError(
                f"Refused: {message}. `tracker sql` is read-only; add --write to change data."
            ) from None
        raise QueryError(f"SQL error: {message}") from None


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

"""`tracker sql`: a user's SQL text run read-only and locked down, or in one transaction the
tool owns, within a time and a memory bound, and stoppable at any moment.

The last statement's rows come back as plain Python values in batches (no polars), so the
command line writes them as DuckDB hands them over. The run history is attached only when
the text names it, and detached as soon as the rows are read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from tracker.errors import QueryError, QueryStoppedError, TrackerError
from tracker.location import StoreLocation, TeamStore
from tracker.store.connection import (
    RUN_HISTORY_TABLES,
    Connection,
    DatabaseError,
    QueryRows,
    attach_run_history,
    connect,
    first_line,
    pending_rows,
)

# Rows fetched from DuckDB at a time: few enough that memory stays flat on any result.
BATCH_ROWS = 10_000
# Statement types refused in any text: the tool owns the transaction and the connection.
_REFUSED_TYPES = {
    duckdb.StatementType.TRANSACTION: "transaction control (the tool runs the text in one "
    "transaction of its own)",
    duckdb.StatementType.ATTACH: "ATTACH",
    duckdb.StatementType.DETACH: "DETACH",
    duckdb.StatementType.LOAD: "INSTALL or LOAD of an extension",
    duckdb.StatementType.SET: "a settings change (SET, RESET, USE)",
}
# ... and those that reach files, unless files are allowed.
_FILE_TYPES = {duckdb.StatementType.COPY: "COPY", duckdb.StatementType.EXPORT: "EXPORT"}
_CHANGE_TYPES = {
    duckdb.StatementType.INSERT,
    duckdb.StatementType.UPDATE,
    duckdb.StatementType.DELETE,
}
_TEMPORAL = ("DATE", "TIMESTAMP")
STOPPED_BY_TIME = "time"
STOPPED_BY_USER = "user"


@dataclass(frozen=True)
class SqlOptions:
    """How a user's SQL may run: changes allowed (`write`), files readable and writable
    (`allow_files`; never the network or extensions), the seconds it may take and DuckDB's
    memory limit (`'2GB'`)."""

    write: bool = False
    allow_files: bool = False
    timeout: float = 300.0
    memory_limit: str = "2GB"


@dataclass
class SqlOutcome:
    """What ran: the last statement's rows (None when it returns none), how many statements
    ran and, for --write, that they were committed and how many rows they changed."""

    rows: QueryRows | None
    statements: int
    committed: bool = False
    rows_changed: int | None = None


class UserSql:
    """One `tracker sql` session on an open connection; `stop()` interrupts it from any
    thread (a signal handler, the timer)."""

    def __init__(
        self, conn: Connection, text: str, options: SqlOptions, store: StoreLocation | None = None
    ) -> None:
        self.conn = conn
        self.options = options
        self.store = store
        self.statements = _checked_statements(conn, text, options)
        self.stopped_by: str | None = None
        self.runs_attached = False
        # Per column of the last SELECT: True when it is a DATE or TIMESTAMP, which comes
        # with a second column of its text when infinite (see _execute_last).
        self.temporal: list[bool] | None = None
        self.described: tuple[list[str], list[str]] | None = None  # names, types if wrapped

    def stop(self, reason: str = STOPPED_BY_USER) -> None:
        """Interrupt the running statement (or the next fetch of its rows)."""
        if self.stopped_by is None:
            self.stopped_by = reason
        self.conn.interrupt()

    def run(self) -> SqlOutcome:
        """Run every statement; the last one's rows, read while the caller reads the
        batches (read them before using the connection again)."""
        if self.options.write:
            return self._run_in_transaction()
        try:
            # DuckDB 1.5's execute() runs each statement to its end: nothing is left pending
            for statement in self.statements[:-1]:
                self._execute(statement.query)
            self._execute_last()
            if not self.conn.description:
                self._detach_runs()
                return SqlOutcome(None, len(self.statements))
            return SqlOutcome(self._rows(self._batches()), len(self.statements))
        except DatabaseError as error:
            raise self._error(error) from None

    def _run_in_transaction(self) -> SqlOutcome:
        changed = 0
        counted = False
        result = None
        self.conn.execute("BEGIN TRANSACTION")
        try:
            for number, statement in enumerate(self.statements, start=1):
                last = number == len(self.statements)
                self._execute_last() if last else self._execute(statement.query)
                if statement.type in _CHANGE_TYPES:
                    counted = True
                    changed += sum(int(row[0]) for row in self.conn.fetchall())
                elif last and self.conn.description:
                    result = self._rows([self._fetch_all()])
            self._detach_runs()
            from tracker.store.batches import refresh_latest_points  # --write only

            refresh_latest_points(self.conn)  # the statements may have changed observations
            self._check_stopped()
            self.conn.execute("COMMIT")
        except (DatabaseError, QueryStoppedError) as error:
            self.conn.execute("ROLLBACK")
            if isinstance(error, QueryStoppedError):
                raise
            raise self._error(error) from None
        return SqlOutcome(result, len(self.statements), True, changed if counted else None)

    def _execute(self, query: str) -> None:
        self._check_stopped()
        self.conn.execute(query)

    def _execute_last(self) -> None:
        """The last statement; a SELECT's DATE and TIMESTAMP columns come with DuckDB's own
        text when they are infinite, as Python's datetime cannot hold infinity."""
        statement = self.statements[-1]
        if statement.type != duckdb.StatementType.SELECT:
            self._execute(statement.query)
            return
        self._check_stopped()
        relation = self.conn.sql(statement.query)
        assert relation is not None
        types = [str(t) for t in relation.types]
        if not any(t.startswith(_TEMPORAL) for t in types):
            self._execute(statement.query)
            return
        columns = []
        for position, (name, type_name) in enumerate(
            zip(relation.columns, types, strict=True), start=1
        ):
            quoted = '"' + name.replace('"', '""') + '"'
            if type_name.startswith(_TEMPORAL):
                columns.append(f"CASE WHEN isfinite(#{position}) THEN #{position} END AS {quoted}")
                columns.append(f"CASE WHEN NOT isfinite(#{position}) THEN #{position}::VARCHAR END")
            else:
                columns.append(f"#{position} AS {quoted}")
        self._execute(f"SELECT {', '.join(columns)} FROM ({statement.query})")
        self.temporal = [t.startswith(_TEMPORAL) for t in types]
        self.described = (list(relation.columns), types)

    def _batches(self) -> Iterator[list[tuple[Any, ...]]]:
        try:
            while True:
                self._check_stopped()
                batch = self.conn.fetchmany(BATCH_ROWS)
                if not batch:
                    break
                yield self._merged(batch)
        except DatabaseError as error:
            raise self._error(error) from None
        self._detach_runs()

    def _rows(self, batches: Iterable[list[tuple[Any, ...]]]) -> QueryRows:
        if self.described is None:
            return pending_rows(self.conn, batches)
        return QueryRows(*self.described, batches)

    def _fetch_all(self) -> list[tuple[Any, ...]]:
        return self._merged(self.conn.fetchall())

    def _merged(self, batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows of a wrapped SELECT with each temporal value and its text folded into one."""
        flags = self.temporal
        if flags is None:
            return batch
        merged = []
        for row in batch:
            values = iter(row)
            cells = []
            for temporal in flags:
                value = next(values)
                if temporal:
                    text = next(values)
                    value = value if text is None else text
                cells.append(value)
            merged.append(tuple(cells))
        return merged

    def _check_stopped(self) -> None:
        if self.stopped_by is not None:
            raise self._stopped()

    def _stopped(self) -> QueryStoppedError:
        rolled_back = " Nothing was changed." if self.options.write else ""
        if self.stopped_by == STOPPED_BY_TIME:
            return QueryStoppedError(
                f"Stopped: the query ran longer than {self.options.timeout:g} s "
                f"(--timeout, TRACKER_SQL_TIMEOUT).{rolled_back}"
            )
        return QueryStoppedError(f"Interrupted.{rolled_back}", exit_code=130)

    def _error(self, error: DatabaseError) -> TrackerError:
        if isinstance(error, duckdb.InterruptException) or self.stopped_by is not None:
            return self._stopped()
        if isinstance(self.store, TeamStore):  # its Parquet files may be in S3
            from tracker.store import object_storage

            if object_storage.is_s3(self.store.data_path) and (
                object_storage.is_transfer_error(error)
            ):
                return object_storage.failed_during(self.store, str(error))
        message = first_line(str(error))
        if self.options.write:
            return QueryError(
                f"SQL error: {message}. Nothing was changed: the transaction was rolled back."
            )
        if _is_write_refusal(message):
            return QueryError(
                f"Refused: {message}. `tracker sql` is read-only; add --write to change data."
            )
        return QueryError(f"SQL error: {message}")

    def _detach_runs(self) -> None:
        if self.runs_attached:
            self.conn.execute("DETACH DATABASE IF EXISTS runs")
            self.runs_attached = False


def _checked_statements(conn: Connection, text: str, options: SqlOptions) -> list[duckdb.Statement]:
    """The statements of `text`, parsed by DuckDB; QueryError for any the tool refuses."""
    try:
        statements = conn.extract_statements(text)
    except DatabaseError as error:
        raise QueryError(f"SQL not understood: {first_line(str(error))}") from None
    if not statements:
        raise QueryError("No SQL statement given.")
    refused = dict(_REFUSED_TYPES)
    if not options.allow_files:
        refused.update(_FILE_TYPES)
    for number, statement in enumerate(statements, start=1):
        what = refused.get(statement.type)
        if what is None and "CHECKPOINT" in _leading_words(statement.query):
            what = "CHECKPOINT (the tool owns the transaction)"
        if what is not None:
            files = (
                " (--allow-files permits COPY and EXPORT)" if statement.type in _FILE_TYPES else ""
            )
            raise QueryError(
                f"Refused: statement {number} ({first_line(statement.query.strip())[:80]}) "
                f"is {what}, which `tracker sql` does not run{files}. Nothing was run."
            )
    return statements


def _leading_words(query: str) -> list[str]:
    """The first two words of a statement, upper case, comments skipped (DuckDB's tokens)."""
    tokens = [start for start, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    return [query[start:].split(None, 1)[0].upper() for start in tokens[:2]]


def names_run_history(text: str) -> bool:
    """True when `text` names a run-history table (`report_runs`, `deliveries`) or the `runs`
    schema: as an identifier or a string (`query_table('report_runs')`), not in a comment.

    DuckDB's tokenizer is used rather than `get_table_names`, which binds statements that
    change data and so fails on names not yet attached."""
    wanted = {*RUN_HISTORY_TABLES, "runs"}
    tokens = duckdb.tokenize(text)
    for index, (start, kind) in enumerate(tokens):
        if kind not in (duckdb.token_type.identifier, duckdb.token_type.string_const):
            continue
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(text)
        word = text[start:end].strip().rstrip(".,;()").strip("\"'").lower()
        if word.split(".")[-1] in wanted or word.split(".")[0] in wanted:
            return True
    return False


@contextmanager
def open_user_sql(db: StoreLocation, text: str, options: SqlOptions) -> Iterator[UserSql]:
    """Open `db` for a user's SQL `text` (read-only unless `options.write`), checked and
    locked down: no files (unless `allow_files`), no network, extensions or settings
    changes, DuckDB's memory limit set, and stopped with `UserSql.stop` when the time runs
    out. The run history is attached read-only only when the text names it."""
    with connect(db, read_only=not options.write) as conn:
        session = UserSql(conn, text, options, db)
        if names_run_history(text):
            session.runs_attached = attach_run_history(conn, db)
        try:
            # A literal, not a bound parameter: DuckDB 1.5 imports pandas (0.3-1 s) to
            # convert the first parameter of a process, and `tracker sql` starts without it.
            size = options.memory_limit.replace("'", "''")
            conn.execute(f"SET memory_limit = '{size}'")
        except DatabaseError as error:
            raise QueryError(
                f"TRACKER_SQL_MEMORY: found '{options.memory_limit}', expected a size such as "
                f"2GB or 500MB ({first_line(str(error))})."
            ) from None
        # a team store's tables are Parquet files under its data path: readable, nothing else
        data_path = db.data_path if isinstance(db, TeamStore) else None
        lock_down(conn, allow_files=options.allow_files, data_path=data_path)
        timer = threading.Timer(options.timeout, session.stop, [STOPPED_BY_TIME])
        timer.daemon = True
        timer.start()
        try:
            yield session
        finally:
            timer.cancel()


def _is_write_refusal(message: str) -> bool:
    lowered = message.lower()
    return any(
        phrase in lowered
        for phrase in (
            "read-only",
            "read only",
            "lock_configuration",
            "external access",
            "file system operations are disabled",
        )  # fmt: skip
    )


def lock_down(conn: Connection, *, allow_files: bool = False, data_path: str | None = None) -> None:
    """Forbid files (unless `allow_files`), network and settings changes on a user
    connection; extensions are never installed or loaded (see SAFE_CONFIG). A team store's
    `data_path` stays reachable: its tables are read from there."""
    if data_path is not None:
        conn.execute("SET allowed_directories = ?", [[data_path]])
    if not allow_files:
        conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")

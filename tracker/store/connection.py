"""The DuckDB store: connections, locking, migrations, the run-history file, and queries as
polars frames (`query`) or plain rows (`query_rows`).

Imports settings and errors. Its companions `store.sync` (reference tables, indicator
definitions, the catalog), `store.batches` (write_batch, latest_points) and `store.user_sql`
(`tracker sql`) work through the `Connection` and `DatabaseError` named here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from tracker import settings
from tracker.errors import DatabaseBusyError, DatabaseFileError
from tracker.files import temporary_path
from tracker.location import StoreLocation

if TYPE_CHECKING:
    import polars as pl

Connection = duckdb.DuckDBPyConnection
DatabaseError = duckdb.Error
T = TypeVar("T")

# Nothing at run time may download: no extension is installed or loaded on demand.
SAFE_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# New files are written in a storage format the stock `duckdb` CLI (1.5, the newest on PyPI)
# can open, so analysts can query the same file with it.
STORAGE_COMPATIBILITY = "v1.5.0"
# DuckDB names the holder as "<program> (PID <n>)"; the program path may hold dots.
_LOCK_HOLDER = re.compile(
    r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\)|.+?)(?:\.? See |\. |\.?$|\n)"
)
# ... and adds this when the holder has the file read-only (we wanted to write).
_HELD_READ_ONLY = "would be able to open this database in read-only mode"


def utc_now() -> datetime:
    """Now in UTC, without tzinfo, as the TIMESTAMP columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


# --- connections -------------------------------------------------------------------------


@contextmanager
def connect(
    path: StoreLocation, *, read_only: bool = False, wait: float | None = None
) -> Iterator[Connection]:
    """Open an existing tracker database, waiting (bounded) while another process holds it.

    Raises DatabaseFileError when the file is missing, corrupt or not a tracker database,
    and DatabaseBusyError naming the holder when the wait runs out. A team store
    (`store.team`) is opened the same way; it is never held, so there is no waiting.
    """
    if not isinstance(path, Path):
        from tracker.store import team

        with team.connect(path, read_only=read_only) as conn:
            yield conn
        return
    if not path.exists():
        raise DatabaseFileError(
            f"{path}: no database here. Run `tracker init` to create it, or pass --db."
        )
    conn = _open(path, read_only=read_only, wait=wait)
    try:
        if not is_tracker_database(conn):
            raise DatabaseFileError(
                f"{path}: this DuckDB file is not a tracker database (it has no "
                "schema_migrations table). Run `tracker init --db NEW_FILE` for a new one."
            )
        pending = pending_migrations(conn)
        if pending:
            raise DatabaseFileError(
                f"{path}: this database was made by an earlier tracker and lacks migration(s) "
                f"{', '.join(pending)}. Run `tracker init` to migrate it; its data is kept."
            )
        yield conn
    finally:
        conn.close()


def _open(path: Path, *, read_only: bool, wait: float | None, create: bool = False) -> Connection:
    config = dict(SAFE_CONFIG)
    if create:  # a new file stays readable by the stock duckdb CLI (see STORAGE_COMPATIBILITY)
        config["storage_compatibility_version"] = STORAGE_COMPATIBILITY
    return _while_locked(
        path,
        wait,
        lambda: duckdb.connect(str(path), read_only=read_only, config=config),
        "cannot be opened as a DuckDB database ({reason}). The file was left untouched; "
        "point --db at a tracker database.",
    )


def _while_locked(path: Path, wait: float | None, attempt: Callable[[], T], unreadable: str) -> T:
    """`attempt()`, retried with bounded back-off while another process holds `path`'s
    lock; DatabaseBusyError names the holder when the wait runs out. Any other DuckDB
    error is DatabaseFileError with `unreadable` ({reason}: DuckDB's first line)."""
    deadline = time.monotonic() + (settings.busy_timeout() if wait is None else wait)
    delay = 0.05
    while True:
        try:
            return attempt()
        except duckdb.Error as error:
            message = str(error)
            if "lock" not in message.lower():
                reason = first_line(message)
                raise DatabaseFileError(f"{path}: {unreadable.format(reason=reason)}") from None
            if time.monotonic() >= deadline:
                raise DatabaseBusyError(_busy_message(path, message)) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _busy_message(path: Path, message: str) -> str:
    """'<path>: the database is busy: <program> (PID n) holds it ...' from DuckDB's error."""
    holder = _LOCK_HOLDER.search(message)
    who = holder.group("holder").strip() if holder else "another process"
    how = "open (read-only)" if _HELD_READ_ONLY in message else "for writing"
    return (
        f"{path}: the database is busy: {who} holds it {how}. "
        "Try again when it has finished (or raise TRACKER_BUSY_TIMEOUT)."
    )


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def is_tracker_database(conn: Connection) -> bool:
    """True when the open database has tracker's migration record."""
    count = scalar(
        conn,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE table_name = 'schema_migrations' AND schema_name = 'main'",
    )
    return bool(count)


def pending_migrations(conn: Connection) -> list[str]:
    """The shipped migrations (e.g. '002_indicator_count_noun') the open database lacks."""
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    return [f"{number:03d}_{name}" for number, name, _ in migrations() if number not in done]


def scalar(conn: Connection, sql: str, params: Sequence[object] | None = None) -> Any:
    """The first column of the first row, or None; reads the whole result, as DuckDB 2
    refuses further work on a connection while a result is unfinished."""
    rows = conn.execute(sql, list(params) if params is not None else None).fetchall()
    return rows[0][0] if rows else None


@contextmanager
def transaction(conn: Connection, *, keep: bool = True) -> Iterator[Connection]:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises; keep=False rolls back in any
    case (a dry run that works as the real one does, then writes nothing).

    Every write of the tool commits here. On a team store the COMMIT can lose a race with
    another writer (`team.is_write_conflict`); the store's connection turns that into
    WriteConflictError, and `store.retried` runs the whole write again."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT" if keep else "ROLLBACK")


# --- creation and migrations ---------------------------------------------------------------


def migrations(folder: str = "sql") -> list[tuple[int, str, str]]:
    """The numbered migrations shipped in tracker/<folder>: (number, name, sql).

    `sql` holds the main database's; `sql/runs` those of the run history file.
    """
    found = []
    for entry in resources.files("tracker.store").joinpath(folder).iterdir():
        match = re.match(r"^(\d{3})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found)


@contextmanager
def create_or_open(path: StoreLocation, *, wait: float | None = None) -> Iterator[Connection]:
    """Open the database for `tracker init`, creating it atomically when it does not exist.

    A new database is built under a temporary name and renamed into place when the block
    ends without error, so no reader ever sees a half-built file. A new team store is built
    in one transaction (`team.create_or_open`).
    """
    if not isinstance(path, Path):
        from tracker.store import team

        with team.create_or_open(path) as conn:
            yield conn
        return
    if path.exists():
        conn = _open(path, read_only=False, wait=wait)
        try:
            if not is_tracker_database(conn) and _has_user_tables(conn):
                raise DatabaseFileError(
                    f"{path}: this DuckDB file already holds other tables and is not a "
                    "tracker database; refusing to change it. Choose another --db."
                )
            yield conn
        finally:
            conn.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _built_then_renamed(path, wait) as conn:
        yield conn


@contextmanager
def _built_then_renamed(path: Path, wait: float | None) -> Iterator[Connection]:
    """A new database built under a temporary name: checkpointed and renamed to `path` when
    the block ends without error, removed when it raises, so no reader sees it half-made."""
    temporary = temporary_path(path)
    _remove_database_files(temporary)
    conn = _open(temporary, read_only=False, wait=wait, create=True)
    try:
        yield conn
        conn.execute("CHECKPOINT")
    except BaseException:
        conn.close()
        _remove_database_files(temporary)
        raise
    conn.close()
    os.replace(temporary, path)


def _remove_database_files(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def _has_user_tables(conn: Connection) -> bool:
    return bool(scalar(conn, "SELECT count(*) FROM duckdb_tables() WHERE NOT internal"))


def migrate(conn: Connection, folder: str = "sql") -> list[str]:
    """Apply the migrations not yet applied, each in one transaction with its record. A
    team store without a schema has it built first (`team.build_schema`)."""
    built: list[str] = []
    if _in_team_store(conn):
        from tracker.store import team

        built = team.build_schema(conn, folder)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for number, name, sql in migrations(folder):
        if number in done:
            continue
        with transaction(conn):
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, utc_now()]
            )
        applied.append(f"{number:03d}_{name}")
    return built + applied


def _in_team_store(conn: Connection) -> bool:
    """True when `conn` works in a team store (a DuckLake catalog), not a DuckDB file."""
    sql = "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    return bool(scalar(conn, sql) == "ducklake")


# --- the run history: a small companion file beside the main database -----------------------
# DuckDB lets one process write a file, and no process can open it for writing while any
# other holds it read-only. Runs and deliveries are therefore recorded in `<db>.runs.duckdb`,
# in short transactions, so a render needs the main file only read-only: it works while
# analysts hold read-only sessions on it, and it never blocks an ingest for long.

RUN_HISTORY_MIGRATIONS = "sql/runs"
RUN_HISTORY_TABLES = (
    "report_runs",
    "deliveries",
    "delivery_recipients",
    "alerts_sent",
    "alert_baselines",
)


def run_history_path(db: Path) -> Path:
    """The run history file of database `db`: data/tracker.duckdb -> data/tracker.runs.duckdb."""
    stem = db.name[: -len(".duckdb")] if db.name.endswith(".duckdb") else db.name
    return db.with_name(f"{stem}.runs.duckdb")


def run_history_problem(db: Path, what: str) -> DatabaseFileError:
    """The one message for a run history that is missing, unreadable or not one, with the fix."""
    path = run_history_path(db)
    return DatabaseFileError(
        f"{path}: the run history of {db} {what}. Nothing was run, sent or changed. Without "
        "it tracker cannot tell what was rendered and delivered. Fix: put the right file "
        f"back at {path}; or move this one away and run `tracker init --db {db}`, which "
        "starts an empty run history (every scheduled briefing then counts as never run: "
        "the scheduler renders and delivers it at the next catch-up)."
    )


def create_run_history(db: StoreLocation, *, wait: float | None = None) -> list[str]:
    """For `tracker init`: create the run history of `db` when it has none (built under a
    temporary name and renamed, so no reader sees it half-made), else migrate it; the
    migrations applied."""
    if not isinstance(db, Path):
        from tracker.store import team

        return team.create_run_history(db)
    path = run_history_path(db)
    if path.exists():
        with connect_run_history(db, wait=wait):
            return []
    with _built_then_renamed(path, wait) as conn:
        applied = migrate(conn, RUN_HISTORY_MIGRATIONS)
    return [f"runs/{name}" for name in applied]


@contextmanager
def connect_run_history(
    db: StoreLocation, *, wait: float | None = None, fail_dead: bool = True
) -> Iterator[Connection]:
    """Open the run history of `db` for a short write, migrated, with the runs of processes
    that are gone marked failed (`run_history.fail_dead_runs`; `fail_dead=False` leaves
    them to a caller that knows the reason better).

    Waits (bounded, like `connect`) while another process holds the file; DatabaseFileError
    with the fix when it is missing, unreadable or not a run history.
    """
    from tracker.store import run_history  # it imports this module

    if not isinstance(db, Path):
        from tracker.store import team

        with team.connect_run_history(db, fail_dead=fail_dead) as conn:
            yield conn
        return
    conn = _open_run_history(db, read_only=False, wait=wait)
    try:
        migrate(conn, RUN_HISTORY_MIGRATIONS)
        if fail_dead:
            run_history.fail_dead_runs(conn)
        yield conn
    except duckdb.IOException as error:  # a damaged file shows when a page is read
        raise run_history_problem(db, f"cannot be read ({first_line(str(error))})") from None
    finally:
        conn.close()


@contextmanager
def read_run_history(db: StoreLocation, *, wait: float | None = None) -> Iterator[Connection]:
    """The run history of `db` read-only. Pending migrations and runs left 'running' by a
    process that is gone are settled first, in a short write (skipped while busy)."""
    if not isinstance(db, Path):
        from tracker.store import team

        with team.read_run_history(db) as conn:
            yield conn
        return
    settle_run_history(db, wait=wait)
    conn = _open_run_history(db, read_only=True, wait=wait)
    try:
        yield conn
    except duckdb.IOException as error:  # a damaged file shows when a page is read
        raise run_history_problem(db, f"cannot be read ({first_line(str(error))})") from None
    finally:
        conn.close()


def settle_run_history(db: StoreLocation, *, wait: float | None = None) -> None:
    """Apply the run history's pending migrations and mark the runs of processes that are
    gone failed, when there is any; a busy file is left for the next reader."""
    from tracker.store import run_history  # it imports this module

    if not isinstance(db, Path):
        from tracker.store.retry import run_history_write

        run_history_write(db, lambda runs: None, what="the failing of runs whose process is gone")
        return

    conn = _open_run_history(db, read_only=True, wait=wait)
    try:
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        behind = any(number not in done for number, _, _ in migrations(RUN_HISTORY_MIGRATIONS))
        dead = not behind and bool(run_history.dead_runs(conn))
    except duckdb.Error as error:
        raise run_history_problem(db, f"cannot be read ({first_line(str(error))})") from None
    finally:
        conn.close()
    if behind or dead:
        try:
            with connect_run_history(db, wait=wait):
                pass
        except DatabaseBusyError:
            pass


def _open_run_history(db: Path, *, read_only: bool, wait: float | None) -> Connection:
    """The run history file of `db`, checked to be one: missing, unreadable or foreign is
    DatabaseFileError with the fix."""
    path = run_history_path(db)
    if not db.exists():
        raise DatabaseFileError(
            f"{db}: no database here. Run `tracker init` to create it, or pass --db."
        )
    if not path.is_file():
        raise run_history_problem(db, "is missing")
    config = dict(SAFE_CONFIG)
    try:
        conn = _while_locked(
            path, wait, lambda: duckdb.connect(str(path), read_only=read_only, config=config),
            "{reason}",
        )  # fmt: skip
    except DatabaseFileError as error:
        reason = str(error).removeprefix(f"{path}: ")
        raise run_history_problem(db, f"cannot be opened as a DuckDB file ({reason})") from None
    try:
        if not (has_table(conn, "schema_migrations") and has_table(conn, "report_runs")):
            raise run_history_problem(db, "is not a tracker run history (no report_runs table)")
        for table in RUN_HISTORY_TABLES:  # every row read whole: a truncated file fails here
            if has_table(conn, table):
                scalar(conn, f"SELECT sum(hash({table})) FROM {table}")
    except duckdb.Error as error:
        conn.close()
        raise run_history_problem(db, f"cannot be read ({first_line(str(error))})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def attach_run_history(conn: Connection, db: StoreLocation, *, wait: float | None = None) -> bool:
    """Make the run history readable on `conn` as `runs.<table>` and as temporary views
    `report_runs`, `deliveries`, `delivery_recipients` (for `tracker sql`); read-only.
    DatabaseFileError with the fix when it is missing or not one. Call before `lock_down`.
    True when a file was attached (to detach when done); a team store holds it already."""
    settle_run_history(db, wait=wait)
    if not isinstance(db, Path):
        from tracker.store import team

        team.attach_run_history(conn)
        return False
    path = run_history_path(db)
    literal = "'" + str(path).replace("'", "''") + "'"  # ATTACH takes no bound parameter
    _while_locked(
        path,
        wait,
        lambda: conn.execute(f"ATTACH {literal} AS runs (READ_ONLY)"),
        "the run history cannot be opened ({reason}).",
    )
    for table in RUN_HISTORY_TABLES:
        if has_table(conn, table, database="runs"):
            conn.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM runs.{table}")
    return True


def next_id(conn: Connection, sequence: str) -> int:
    """The next id from `sequence` (batch_ids, report_run_ids, delivery_ids): DuckDB's
    sequence in a file, a PostgreSQL sequence of the catalog in a team store (DuckLake has
    no sequences), so no two machines take the same id."""
    if _in_team_store(conn):
        from tracker.store import team

        return team.next_id(conn, sequence)
    return int(scalar(conn, "SELECT nextval(?)", [sequence]))


def claim_writes(conn: Connection) -> None:
    """Make the open transaction conflict with every other transaction that claims, so two
    writers whose decisions rest on what they read (new or revised points, sources, issue
    numbers) cannot both commit: the later is refused and run again (`store.retried`).
    Needed on a team store only (DuckLake lets two transactions that merely insert into the
    same table both commit); a file has one writer at a time."""
    if _in_team_store(conn):
        from tracker.store import team

        team.claim_writes(conn)


def has_table(conn: Connection, table: str, *, database: str | None = None) -> bool:
    """True when `table` exists in the schema `main` (of `database`, default: the current)."""
    sql = (
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = coalesce(?, current_database())"
    )
    return bool(scalar(conn, sql, [table, database]))


# --- queries -------------------------------------------------------------------------------


def merge_sql(table: str, keys: Sequence[str], columns: Sequence[str], source: str) -> str:
    """MERGE the rows of `source` (a query naming `columns`) into `table`: a row whose `keys`
    match is updated, any other inserted. The one upsert of both stores: a DuckLake table
    has no primary key, so neither INSERT OR REPLACE nor ON CONFLICT."""
    on = " AND ".join(f"t.{key} = s.{key}" for key in keys)
    updates = ", ".join(f"{c} = s.{c}" for c in columns if c not in keys)
    matched = f"WHEN MATCHED THEN UPDATE SET {updates} " if updates else ""
    return (
        f"MERGE INTO {table} AS t USING ({source}) AS s ON {on} {matched}"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
        f"VALUES ({', '.join(f's.{c}' for c in columns)})"
    )


def query(conn: Connection, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
    """Run one read query with bound parameters; the result as a polars frame."""
    import polars as pl  # imported here: commands that need no frame start without it

    relation = conn.sql(sql, params=list(params) if params is not None else None)
    if relation is None:
        return pl.DataFrame()
    frame: pl.DataFrame = relation.pl()
    return frame


@dataclass(frozen=True)
class QueryRows:
    """A query's result as plain Python values: column names, DuckDB type names (`INTEGER`,
    `DECIMAL(18,3)`) and the rows in batches as DuckDB hands them over."""

    columns: list[str]
    types: list[str]
    batches: Iterable[list[tuple[Any, ...]]]

    def records(self) -> list[dict[str, Any]]:
        """Every row as a dict of column name -> value (reads the batches)."""
        return [dict(zip(self.columns, row, strict=True)) for b in self.batches for row in b]


def query_rows(conn: Connection, sql: str, params: Sequence[object] | None = None) -> QueryRows:
    """Run one read query with bound parameters; the whole result as plain rows (no polars)."""
    conn.execute(sql, list(params) if params is not None else None)
    return pending_rows(conn, [conn.fetchall()])


def pending_rows(conn: Connection, batches: Iterable[list[tuple[Any, ...]]]) -> QueryRows:
    """The columns of the result `conn` last executed, with `batches` as its rows."""
    description = conn.description or []
    return QueryRows([c[0] for c in description], [str(c[1]) for c in description], batches)

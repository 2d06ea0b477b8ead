"""The team store: the same tables, views and macros in a DuckLake catalog in PostgreSQL, its
Parquet files under TRACKER_DATA_PATH, reached by every machine with the same SQL.

Imported only when `--db` names a team store (`tracker.location.TeamStore`), so the
single-file store loads none of this. The DuckLake and postgres extensions come from their
wheels (`duckdb-extension-ducklake`, `duckdb-extension-postgres`), loaded from the installed
path; nothing is downloaded. An s3:// data path also loads `duckdb-extension-httpfs`, with
the credentials from the AWS variables (`object_storage`). The catalog is attached as
`lake`; the main tables live in its schema `main`, the run history (report_runs,
deliveries, ...) in its schema `runs`, so one catalog holds everything and
`runs.report_runs` reads the same as on a file.

DuckLake has no PRIMARY KEY, UNIQUE, CHECK, sequences or indexes, so `tracker init` cannot
replay the migrations up to `REPLAYED_THROUGH` on it: it replays them into an in-memory
DuckDB (the same SQL as the file store, so the two cannot drift) and copies what they built:
tables (columns, types, NOT NULL, constant defaults) with their rows, views and macros. Ids
come from PostgreSQL sequences in the catalog's own database (`next_id`). Migrations
numbered above `REPLAYED_THROUGH` run on both stores as written.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tracker.errors import DatabaseFileError, InputError, TrackerError, WriteConflictError
from tracker.location import TeamStore
from tracker.store import connection, object_storage
from tracker.store.connection import SAFE_CONFIG, Connection, first_line, migrations, scalar

LAKE = "lake"
RUNS_SCHEMA = "runs"
# The newest migration of each chain when the team store came (issue 15): these are built
# by replay; every later one must run on a DuckLake catalog as written (README, "Code
# layout"; tests/test_team_store.py applies each of them to a catalog).
REPLAYED_THROUGH = {"sql": 15, connection.RUN_HISTORY_MIGRATIONS: 7}
# DuckLake's words for a commit that lost a race with another writer's commit.
_CONFLICT = "Transaction conflict"
_REPLAY = "tracker_replay"


class TeamStoreError(InputError):
    """The team store named by --db cannot be used: its extensions are missing, its server
    unreachable, its credentials refused or its data path not the catalog's (exit code 2)."""


class CatalogLostError(TrackerError):
    """The connection to the catalog's PostgreSQL server went during a command (exit code 1)."""


# libpq's words for a connection that went away under a command (server stopped or
# restarted, session terminated, network gone).
_CONNECTION_LOST = (
    "server closed the connection unexpectedly",
    "terminating connection",
    "no connection to the server",
    "connection has been closed unexpectedly",
    "could not receive data from server",
    "could not send data to server",
)


# --- extensions ----------------------------------------------------------------------------


def _extension_file(package: str, name: str) -> Path:
    """The extension binary a wheel installed for this DuckDB; TeamStoreError when the wheel
    is missing or was built for another DuckDB version."""
    spec = importlib.util.find_spec(package)
    wanted = f"v{duckdb.__version__}"
    folder = Path(spec.origin).parent / "extensions" if spec and spec.origin else None
    found = folder / wanted / f"{name}.duckdb_extension" if folder else None
    if found is not None and found.is_file():
        return found
    built = sorted(p.name for p in folder.iterdir()) if folder and folder.is_dir() else []
    what = f"is built for DuckDB {', '.join(built)}" if built else "is not installed"
    raise TeamStoreError(
        f"--db: a team store needs DuckDB's {name} extension for DuckDB {duckdb.__version__}, "
        f"and the Python package {package.replace('_', '-')} {what}. Install "
        f"`{package.replace('_', '-')}=={duckdb.__version__}` (pip install -e . does), or use "
        "a single-file store (--db PATH). Nothing was downloaded or changed."
    )


def _postgres_extension() -> Path:
    """The postgres extension under the file name DuckDB loads it by (its entry point is
    `postgres_scanner_duckdb_cpp_init`): a symbolic link in a folder of this user's cache,
    made atomically, to the wheel's `postgres.duckdb_extension`."""
    target = _extension_file("duckdb_extension_postgres", "postgres")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "tracker" / "duckdb-extensions" / f"v{duckdb.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home: a private folder of this process
        folder = Path(tempfile.mkdtemp(prefix="tracker-extensions-"))
    link = folder / "postgres_scanner.duckdb_extension"
    if link.is_symlink() and link.resolve() == target.resolve():
        return link
    temporary = folder / f".postgres_scanner.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link)
    return link


def _quoted(text: str) -> str:
    """`text` as an SQL string literal: ATTACH takes no bound parameters."""
    return "'" + text.replace("'", "''") + "'"


# --- connections ---------------------------------------------------------------------------


def _open(store: TeamStore, *, read_only: bool, create: bool = False) -> Connection:
    """An in-memory DuckDB with the catalog attached as `lake` and in use; TeamStoreError
    with the fix when the server, the credentials, the database or the data path fail."""
    ducklake = _extension_file("duckdb_extension_ducklake", "ducklake")
    postgres = _postgres_extension()
    conn = duckdb.connect(":memory:", config=dict(SAFE_CONFIG))
    options = [f"DATA_PATH {_quoted(store.data_path)}"]
    if read_only:
        options.append("READ_ONLY")
    elif not create:
        options.append("CREATE_IF_NOT_EXISTS false")
    try:
        if object_storage.is_s3(store.data_path):  # only then: a folder needs no httpfs
            httpfs = _extension_file("duckdb_extension_httpfs", "httpfs")
            object_storage.open_data_path(store, conn, str(httpfs))
        conn.execute(f"LOAD {_quoted(str(postgres))}")
        conn.execute(f"LOAD {_quoted(str(ducklake))}")
        conn.execute(f"ATTACH {_quoted(str(store))} AS {LAKE} ({', '.join(options)})")
        conn.execute(f"USE {LAKE}")
    except duckdb.Error as error:
        conn.close()
        raise _attach_problem(store, str(error)) from None
    except TrackerError:
        conn.close()
        raise
    return conn


def _attach_problem(store: TeamStore, message: str) -> TeamStoreError | DatabaseFileError:
    """The one paragraph for a team store that cannot be attached, from DuckDB's error."""
    if "does not exist - and creating a new DuckLake" in message or (
        "CREATE_IF_NOT_EXISTS" in message
    ):
        return DatabaseFileError(
            f"{store}: no team store here (the PostgreSQL database holds no DuckLake "
            f"catalog). Run `tracker init --db '{store}'` to create it."
        )
    if "does not match existing data path" in message:
        return TeamStoreError(
            f"{store}: TRACKER_DATA_PATH is {store.data_path}, but this catalog keeps its "
            "Parquet files elsewhere (DuckDB: "
            f"{first_line(message).split(' does not match ')[-1]}). Set TRACKER_DATA_PATH to "
            "the catalog's data path; nothing was changed."
        )
    reason = message.split("Unable to connect to Postgres at", 1)[-1]
    reason = reason.split(": ", 1)[-1] if "Unable to connect" in message else message
    reason = " ".join(reason.split())
    return TeamStoreError(
        f"{store}: cannot open the team store's catalog in PostgreSQL ({reason}). Check "
        "host, port, dbname and user in --db / TRACKER_DB, and that the server runs; the "
        "password comes from PGPASSWORD, a PGPASSFILE or a PGSERVICEFILE entry, never from "
        "--db. Nothing was changed."
    )


def is_write_conflict(error: BaseException) -> bool:
    """True when `error` is DuckLake refusing a commit because another writer committed a
    conflicting change first (the place for bounded retries)."""
    return isinstance(error, duckdb.TransactionException) and _CONFLICT in str(error)


@contextmanager
def _session(store: TeamStore, conn: Connection) -> Iterator[Connection]:
    """`conn`, closed at the end; a lost commit race becomes WriteConflictError (which
    `store.retried` catches to run the write again), a lost connection to the server
    CatalogLostError."""
    try:
        yield conn
    except duckdb.Error as error:
        if any(words in str(error) for words in _CONNECTION_LOST):
            raise _lost(store, str(error)) from None
        if object_storage.is_s3(store.data_path) and object_storage.is_transfer_error(error):
            raise object_storage.failed_during(store, str(error)) from None
        if not is_write_conflict(error):
            raise
        raise WriteConflictError(
            f"{store}: another process committed a conflicting change to the same table "
            "first, so this change was rolled back and nothing of it was written. Run the "
            "command again."
        ) from None
    finally:
        conn.close()


def _lost(store: TeamStore, message: str) -> CatalogLostError:
    reason = next(words for words in _CONNECTION_LOST if words in message)
    return CatalogLostError(
        f"{store}: the connection to the team store's catalog in PostgreSQL was lost during "
        f"the command ({reason}). The server rolls back a transaction whose connection goes, "
        "so nothing of it was written, unless the connection went in the instant of its "
        "commit: then all of it is there, and running the command again finds it (an "
        "ingest of the same files writes nothing twice). Check that the server runs, then "
        "run the command again."
    )


@contextmanager
def connect(store: TeamStore, *, read_only: bool = False) -> Iterator[Connection]:
    """The team store's main schema, checked to be a migrated tracker store (as
    `connection.connect` checks a file)."""
    conn = _open(store, read_only=read_only)
    with _session(store, conn):
        _check_schema(store, conn, "sql", "main")
        yield conn


def _check_schema(store: TeamStore, conn: Connection, folder: str, schema: str) -> None:
    if not _has_table(conn, schema, "schema_migrations"):
        raise DatabaseFileError(
            f"{store}: this catalog holds no tracker store yet (no {schema}.schema_migrations). "
            f"Run `tracker init --db '{store}'` to create it."
        )
    done = {row[0] for row in conn.execute(
        f"SELECT version FROM {LAKE}.{schema}.schema_migrations").fetchall()}  # fmt: skip
    pending = [f"{n:03d}_{name}" for n, name, _ in migrations(folder) if n not in done]
    if pending:
        raise DatabaseFileError(
            f"{store}: this store was made by an earlier tracker and lacks migration(s) "
            f"{', '.join(pending)}. Run `tracker init` to migrate it; its data is kept."
        )


def _has_table(conn: Connection, schema: str, table: str) -> bool:
    sql = (
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ?"
    )
    return bool(scalar(conn, sql, [LAKE, schema, table]))


@contextmanager
def create_or_open(store: TeamStore) -> Iterator[Connection]:
    """For `tracker init`: the team store, its catalog and current schema built first when
    the PostgreSQL database holds none (in one transaction), its sequences created."""
    conn = _open(store, read_only=False, create=True)
    with _session(store, conn):
        if not _has_table(conn, "main", "schema_migrations") and scalar(
            conn, "SELECT count(*) FROM duckdb_tables() WHERE database_name = ?", [LAKE]
        ):
            raise DatabaseFileError(
                f"{store}: this DuckLake catalog already holds other tables and is not a "
                "tracker store; refusing to change it. Choose another database."
            )
        yield conn  # `connection.migrate` builds the schema (`build_schema`)


def create_run_history(store: TeamStore) -> list[str]:
    """For `tracker init`: the run history (schema `runs`) built when missing, else
    migrated; the migrations applied."""
    conn = _open(store, read_only=False)
    with _session(store, conn):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{RUNS_SCHEMA}")
        conn.execute(f"USE {LAKE}.{RUNS_SCHEMA}")
        applied = connection.migrate(conn, connection.RUN_HISTORY_MIGRATIONS)
    return [f"runs/{name}" for name in applied]


@contextmanager
def connect_run_history(store: TeamStore, *, fail_dead: bool = True) -> Iterator[Connection]:
    """The run history (schema `runs`) for a short write, with dead runs failed."""
    from tracker.store import run_history

    conn = _open(store, read_only=False)
    with _session(store, conn):
        _check_schema(store, conn, connection.RUN_HISTORY_MIGRATIONS, RUNS_SCHEMA)
        conn.execute(f"USE {LAKE}.{RUNS_SCHEMA}")
        if fail_dead:
            run_history.fail_dead_runs(conn)
        yield conn


@contextmanager
def read_run_history(store: TeamStore) -> Iterator[Connection]:
    """The run history read-only (runs of processes that are gone are failed first)."""
    connection.settle_run_history(store)  # a short write, run again after a lost race
    conn = _open(store, read_only=True)
    with _session(store, conn):
        conn.execute(f"USE {LAKE}.{RUNS_SCHEMA}")
        yield conn


def attach_run_history(conn: Connection) -> None:
    """The run history readable as `runs.<table>` (it is: schema `runs` of the catalog) and
    as the temporary views `report_runs`, `deliveries`, ... for `tracker sql`."""
    for table in connection.RUN_HISTORY_TABLES:
        if _has_table(conn, RUNS_SCHEMA, table):
            conn.execute(
                f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {LAKE}.{RUNS_SCHEMA}.{table}"
            )


# --- writers that must not both commit ----------------------------------------------------

# The row of main.meta every claiming transaction rewrites (`claim_writes`).
_CLAIM_KEY = "write_claim"


def claim_writes(conn: Connection) -> None:
    """Rewrite the claim row of main.meta in the open transaction. DuckLake refuses to commit
    a transaction that deleted rows from a table another transaction inserted into since it
    began, and an UPDATE is both, so of two claiming transactions in flight only the first
    commits; without this, two ingests adding the same new point would both commit it."""
    mark = f"{os.getpid()} {connection.utc_now().isoformat()}"
    table = f"{LAKE}.main.meta"
    sql = f"UPDATE {table} SET value = ? WHERE key = ?"
    if not scalar(conn, sql, [mark, _CLAIM_KEY]):  # a store built before the claim row
        conn.execute(f"INSERT INTO {table} VALUES (?, ?)", [_CLAIM_KEY, mark])


# --- ids -----------------------------------------------------------------------------------


def _sequence(name: str) -> str:
    """The PostgreSQL sequence behind DuckDB sequence `name`: batch_ids -> tracker_batch_ids."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a sequence name: {name!r}")
    return f"tracker_{name}"


def next_id(conn: Connection, name: str) -> int:
    """The next value of sequence `name` (batch_ids, report_run_ids, delivery_ids) from the
    catalog's PostgreSQL database: never handed out twice, on any machine."""
    sql = f"SELECT nextval('{_sequence(name)}') AS id"
    return int(scalar(conn, f"SELECT id FROM postgres_query(?, {_quoted(sql)})", [_metadata()]))


def _metadata() -> str:
    """The name under which DuckLake attaches the catalog's PostgreSQL database."""
    return f"__ducklake_metadata_{LAKE}"


def _create_sequences(conn: Connection) -> None:
    """Create in PostgreSQL (when missing) a sequence for each the replay made: ids come
    from there (`next_id`), one series for every machine."""
    names = conn.execute(
        "SELECT sequence_name FROM duckdb_sequences() WHERE database_name = ?", [_REPLAY]
    ).fetchall()
    for (name,) in names:
        statement = f"CREATE SEQUENCE IF NOT EXISTS {_sequence(name)}"
        conn.execute(f"CALL postgres_execute(?, {_quoted(statement)})", [_metadata()])


# --- the schema, built by replay -----------------------------------------------------------


def _replayed(folder: str) -> list[tuple[int, str, str]]:
    return [m for m in migrations(folder) if m[0] <= REPLAYED_THROUGH[folder]]


def build_schema(conn: Connection, folder: str) -> list[str]:
    """For `connection.migrate` on a team store: when the current schema has no
    schema_migrations, build what `folder`'s migrations up to REPLAYED_THROUGH make (and
    the PostgreSQL sequences); the migrations so built ('001_initial', ...), else []."""
    schema = str(scalar(conn, "SELECT current_schema()"))
    if _has_table(conn, schema, "schema_migrations"):
        return []
    _build(conn, folder, schema)
    if folder == "sql":  # the row claiming writers rewrite (`claim_writes`)
        conn.execute(f"INSERT INTO {LAKE}.main.meta VALUES (?, ?)", [_CLAIM_KEY, "built"])
    conn.execute(f"USE {LAKE}.{schema}")
    return [f"{number:03d}_{name}" for number, name, _ in _replayed(folder)]


def _build(conn: Connection, folder: str, schema: str) -> None:
    """Replay `folder`'s migrations up to REPLAYED_THROUGH into an in-memory DuckDB and create
    what they made in schema `schema` of the catalog, in one transaction: tables with their
    rows (schema_migrations records each migration), views, macros."""
    conn.execute(f"ATTACH ':memory:' AS {_REPLAY}")
    try:
        conn.execute(f"USE {_REPLAY}")
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        for number, name, sql in _replayed(folder):
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [number, name, connection.utc_now()],
            )
        conn.execute(f"USE {LAKE}")
        with connection.transaction(conn):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{schema}")
            conn.execute(f"USE {LAKE}.{schema}")
            _copy_tables(conn, schema)
            _copy_macros(conn)  # first: views call them (a macro is bound when called)
            _copy_views(conn)
        _create_sequences(conn)
    finally:
        conn.execute(f"USE {LAKE}")
        conn.execute(f"DETACH {_REPLAY}")


def _copy_tables(conn: Connection, schema: str) -> None:
    tables = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_oid",
        [_REPLAY],
    ).fetchall()
    for (table,) in tables:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE database_name = ? AND table_name = ? ORDER BY column_index",
            [_REPLAY, table],
        ).fetchall()
        parts = []
        for name, data_type, nullable, default in columns:
            part = f'"{name}" {data_type}'
            if not nullable:
                part += " NOT NULL"
            if default is not None and "nextval(" not in default:  # ids: next_id()
                part += f" DEFAULT {default}"
            parts.append(part)
        conn.execute(f'CREATE TABLE {LAKE}.{schema}."{table}" ({", ".join(parts)})')
        conn.execute(
            f'INSERT INTO {LAKE}.{schema}."{table}" SELECT * FROM {_REPLAY}.main."{table}"'
        )


def _copy_views(conn: Connection) -> None:
    """Each view of the replay, created once the views it reads exist."""
    waiting = [row[0] for row in conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
        "ORDER BY view_oid", [_REPLAY]).fetchall()]  # fmt: skip
    while waiting:
        failed: list[str] = []
        error: duckdb.Error | None = None
        for sql in waiting:
            try:
                conn.execute(sql)
            except duckdb.CatalogException as missing:  # reads a view not made yet
                failed.append(sql)
                error = missing
        if len(failed) == len(waiting):
            raise DatabaseFileError(f"the views cannot be built on the catalog: {error}")
        waiting = failed


def _copy_macros(conn: Connection) -> None:
    """Each scalar and table macro of the replay, from its definition and parameters."""
    macros = conn.execute(
        "SELECT function_name, function_type, parameters, macro_definition "
        "FROM duckdb_functions() WHERE database_name = ? AND function_type LIKE '%macro' "
        "ORDER BY function_oid",
        [_REPLAY],
    ).fetchall()
    for name, kind, parameters, definition in macros:
        table = "TABLE " if kind == "table_macro" else ""
        conn.execute(
            f"CREATE OR REPLACE MACRO {name}({', '.join(parameters)}) AS {table}{definition}"
        )


# --- for `tracker store migrate` (store/copying.py) ----------------------------------------


@contextmanager
def connect_catalog(store: TeamStore, *, read_only: bool = True) -> Iterator[Connection]:
    """The catalog attached as `lake`, its schema not checked: to see what a target holds
    before anything is built in it. DatabaseFileError when the database holds no catalog."""
    conn = _open(store, read_only=read_only)
    with _session(store, conn):
        yield conn


def set_next_id_past(conn: Connection, name: str, largest: int) -> None:
    """Make sequence `name` hand out ids above `largest` (copied rows keep their ids); a
    sequence already past it is left as it is."""
    sequence = _sequence(name)
    sql = (
        f"SELECT setval('{sequence}', greatest({int(largest)}, "
        f"(SELECT last_value FROM {sequence}))) AS id"
    )
    if largest > 0:
        scalar(conn, f"SELECT id FROM postgres_query(?, {_quoted(sql)})", [_metadata()])

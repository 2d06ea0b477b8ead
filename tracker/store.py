"""The DuckDB store: connections, migrations, syncs, batches and queries as polars frames.

Layer 1: the only module importing duckdb. Imports settings, errors, models, units.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from tracker import settings
from tracker.errors import (
    DatabaseBusyError,
    DatabaseFileError,
    DefinitionError,
    QueryError,
)
from tracker.models import BatchSummary, Catalog, Indicator, IndicatorInfo
from tracker.units import parse_unit

Connection = duckdb.DuckDBPyConnection
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
REFERENCE_TABLES = ("initiatives", "geographies", "geography_members", "sources", "fx_rates")
KEY_COLUMNS = ("indicator", "initiative", "geography", "period", "source")
OBSERVATION_COLUMNS = (
    "indicator",
    "initiative",
    "geography",
    "period",
    "period_start",
    "period_end",
    "source",
    "value",
    "currency",
    "value_as_given",
    "unit_as_given",
    "note",
)


def utc_now() -> datetime:
    """Now in UTC, without tzinfo, as the TIMESTAMP columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


# --- connections -------------------------------------------------------------------------


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, wait: float | None = None
) -> Iterator[Connection]:
    """Open an existing tracker database, waiting (bounded) while another process holds it.

    Raises DatabaseFileError when the file is missing, corrupt or not a tracker database,
    and DatabaseBusyError naming the holder when the wait runs out.
    """
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
                reason = _first_line(message)
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


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def is_tracker_database(conn: Connection) -> bool:
    """True when the open database has tracker's migration record."""
    count = _scalar(
        conn,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE table_name = 'schema_migrations' AND schema_name = 'main'",
    )
    return bool(count)


def _scalar(conn: Connection, sql: str, params: Sequence[object] | None = None) -> Any:
    """The first column of the first row, or None; reads the whole result, as DuckDB 2
    refuses further work on a connection while a result is unfinished."""
    rows = conn.execute(sql, list(params) if params is not None else None).fetchall()
    return rows[0][0] if rows else None


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- creation and migrations ---------------------------------------------------------------


def migrations(folder: str = "sql") -> list[tuple[int, str, str]]:
    """The numbered migrations shipped in tracker/<folder>: (number, name, sql).

    `sql` holds the main database's; `sql/runs` those of the run history file.
    """
    found = []
    for entry in resources.files("tracker").joinpath(folder).iterdir():
        match = re.match(r"^(\d{3})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    return sorted(found)


@contextmanager
def create_or_open(path: Path, *, wait: float | None = None) -> Iterator[Connection]:
    """Open the database for `tracker init`, creating it atomically when it does not exist.

    A new database is built under a temporary name and renamed into place when the block
    ends without error, so no reader ever sees a half-built file.
    """
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
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove_database_files(temporary)
    config = dict(SAFE_CONFIG, storage_compatibility_version=STORAGE_COMPATIBILITY)
    conn = duckdb.connect(str(temporary), config=config)
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
    return bool(_scalar(conn, "SELECT count(*) FROM duckdb_tables() WHERE NOT internal"))


def migrate(conn: Connection, folder: str = "sql") -> list[str]:
    """Apply the migrations not yet applied, each in one transaction with its record."""
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
    return applied


# --- the run history: a small companion file beside the main database -----------------------
# DuckDB lets one process write a file, and no process can open it for writing while any
# other holds it read-only. Runs and deliveries are therefore recorded in `<db>.runs.duckdb`,
# in short transactions, so a render needs the main file only read-only: it works while
# analysts hold read-only sessions on it, and it never blocks an ingest for long.

RUNS_MIGRATIONS = "sql/runs"
RUNS_TABLES = ("report_runs", "deliveries")


def runs_path(db: Path) -> Path:
    """The run history file of database `db`: data/tracker.duckdb -> data/tracker.runs.duckdb."""
    stem = db.name[: -len(".duckdb")] if db.name.endswith(".duckdb") else db.name
    return db.with_name(f"{stem}.runs.duckdb")


@contextmanager
def connect_runs(db: Path, *, wait: float | None = None) -> Iterator[Connection]:
    """Open the run history of `db` for a short write, creating and migrating it on demand.

    Waits (bounded, like `connect`) while another process holds the file.
    """
    path = runs_path(db)
    if not db.exists():
        raise DatabaseFileError(
            f"{db}: no database here. Run `tracker init` to create it, or pass --db."
        )
    conn = _open(path, read_only=False, wait=wait, create=True)
    try:
        migrate(conn, RUNS_MIGRATIONS)
        yield conn
    finally:
        conn.close()


@contextmanager
def read_runs(db: Path, *, wait: float | None = None) -> Iterator[Connection | None]:
    """The run history of `db` read-only, or None when nothing was ever recorded."""
    path = runs_path(db)
    if not path.exists():
        yield None
        return
    conn = _open(path, read_only=True, wait=wait)
    try:
        # A file whose creator was killed before its first migration holds nothing yet.
        yield conn if has_table(conn, "report_runs") else None
    finally:
        conn.close()


def attach_runs(conn: Connection, db: Path, *, wait: float | None = None) -> None:
    """Make the run history readable on `conn` as `runs.<table>` and as temporary views
    `report_runs` and `deliveries` (for `tracker sql`); read-only. When no run was ever
    recorded, empty temporary tables of the same shape stand in. Call before `lock_down`."""
    path = runs_path(db)
    if path.exists():
        _while_locked(
            path,
            wait,
            lambda: conn.execute("ATTACH ? AS runs (READ_ONLY)", [str(path)]),
            "the run history cannot be opened ({reason}). Move the file away; a new one is "
            "created by the next run.",
        )
    else:
        # No run recorded yet: the same tables, empty, as temporary objects (a read-only
        # connection can create nothing else), so queries naming them still answer.
        for _, _, sql in migrations(RUNS_MIGRATIONS):
            conn.execute(_EMPTY_TEMPORARY.sub(r"CREATE TEMP \1 IF NOT EXISTS", sql))
        return
    for table in RUNS_TABLES:
        if has_table(conn, table, database="runs"):
            conn.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM runs.{table}")


_EMPTY_TEMPORARY = re.compile(r"CREATE (SEQUENCE|TABLE) IF NOT EXISTS")


def has_table(conn: Connection, table: str, *, database: str | None = None) -> bool:
    """True when `table` exists in the schema `main` (of `database`, default: the current)."""
    sql = (
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = coalesce(?, current_database())"
    )
    return bool(_scalar(conn, sql, [table, database]))


# --- reference tables and indicator definitions -------------------------------------------


def sync_reference(conn: Connection, folder: Path) -> dict[str, int]:
    """Upsert the shipped reference tables from `folder/<table>.csv`; returns row counts.

    Rows are replaced by primary key, never deleted, so sources registered by ingest stay.
    """
    counts: dict[str, int] = {}
    for table in REFERENCE_TABLES:
        path = folder / f"{table}.csv"
        if not path.exists():
            raise DefinitionError(f"{path}: reference table file not found.")
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
        columns = [row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DefinitionError(
                f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}."
            )
        conn.register("reference_rows", frame.select(columns))
        try:
            casts = ", ".join(f"NULLIF(trim({c}), '')" for c in columns)
            conn.execute(f"INSERT OR REPLACE INTO {table} SELECT {casts} FROM reference_rows")
        except duckdb.Error as error:
            raise DefinitionError(f"{path}: {_first_line(str(error))}") from None
        finally:
            conn.unregister("reference_rows")
        counts[table] = frame.height
    return counts


def stored_definitions_digest(conn: Connection) -> str | None:
    """The hash of the indicator definitions last synced, or None."""
    value = _scalar(conn, "SELECT value FROM meta WHERE key = 'definitions_sha256'")
    return None if value is None else str(value)


def sync_indicators(conn: Connection, indicators: Sequence[Indicator], digest: str) -> list[str]:
    """Make the indicators and targets tables match the definitions; returns what changed.

    A definition removed while observations still use it is refused; nothing changes then.
    """
    wanted = {indicator.id for indicator in indicators}
    stored = {row[0] for row in conn.execute("SELECT id FROM indicators").fetchall()}
    removed = sorted(stored - wanted)
    if removed:
        in_use = conn.execute(
            "SELECT indicator, count(*) FROM observations WHERE list_contains(?, indicator) "
            "GROUP BY indicator ORDER BY indicator",
            [removed],
        ).fetchall()
        if in_use:
            detail = ", ".join(f"'{name}' ({count} observations)" for name, count in in_use)
            raise DefinitionError(
                f"indicators/: the definition of {detail} was removed but the database still "
                "holds its observations. Restore the file (nothing was changed or lost)."
            )
    _check_definition_references(conn, indicators)
    now = utc_now()
    rows = []
    target_rows = []
    for indicator in indicators:
        unit = parse_unit(indicator.unit)
        assert unit is not None, "definitions validate units"
        rows.append(
            (
                indicator.id, indicator.name, indicator.description, indicator.unit,
                unit.dimension, unit.base, unit.scale, indicator.measure, indicator.base_date,
                indicator.base_note, indicator.frequency, indicator.category,
                indicator.preferred_source, indicator.default_initiative,
                str(indicator.path.name) if indicator.path else None, indicator.sha256, now,
            )
        )  # fmt: skip
        for target in indicator.targets:
            target_unit = parse_unit(target.unit)
            assert target_unit is not None
            value = target.value * target_unit.scale / unit.scale
            currency = target_unit.base if target_unit.dimension == "money" else None
            target_rows.append(
                (
                    target.indicator, target.initiative, target.geography, target.label, value,
                    currency, target.unit, target.due, target.baseline_value,
                    target.baseline_period, target.source, target.note,
                )
            )  # fmt: skip
    conn.execute("DELETE FROM targets")
    conn.execute("DELETE FROM indicators WHERE NOT list_contains(?, id)", [sorted(wanted)])
    conn.executemany(
        "INSERT OR REPLACE INTO indicators VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if target_rows:
        conn.executemany(
            "INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", target_rows
        )
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('definitions_sha256', ?)", [digest])
    added = sorted(wanted - stored)
    return [f"added {name}" for name in added] + [f"removed {name}" for name in removed]


def _check_definition_references(conn: Connection, indicators: Sequence[Indicator]) -> None:
    initiatives = {r[0] for r in conn.execute("SELECT id FROM initiatives").fetchall()}
    geographies = {r[0] for r in conn.execute("SELECT id FROM geographies").fetchall()}
    sources = {r[0] for r in conn.execute("SELECT id FROM sources").fetchall()}
    for indicator in indicators:
        where = indicator.path or indicator.id
        unit = parse_unit(indicator.unit)
        assert unit is not None
        if indicator.preferred_source and indicator.preferred_source not in sources:
            raise DefinitionError(
                f"{where}: key 'preferred_source': found '{indicator.preferred_source}', "
                "expected an id from the sources table (data/reference/sources.csv)."
            )
        if indicator.default_initiative and indicator.default_initiative not in initiatives:
            raise DefinitionError(
                f"{where}: key 'default_initiative': found '{indicator.default_initiative}', "
                f"expected one of {', '.join(sorted(initiatives))}."
            )
        for index, target in enumerate(indicator.targets):
            key = f"targets.{index}"
            target_unit = parse_unit(target.unit)
            assert target_unit is not None
            if target_unit.dimension != unit.dimension:
                raise DefinitionError(
                    f"{where}: key '{key}.unit': found '{target.unit}', expected a unit "
                    f"convertible to the indicator's '{indicator.unit}'."
                )
            for field, value, known in (
                ("initiative", target.initiative, initiatives),
                ("geography", target.geography, geographies),
                ("source", target.source, sources),
            ):
                if value not in known:
                    raise DefinitionError(
                        f"{where}: key '{key}.{field}': found '{value}', which is not in the "
                        f"{field} reference table."
                    )


# --- what ingest needs ---------------------------------------------------------------------


def catalog(conn: Connection) -> Catalog:
    """The names a CSV may use: indicators, initiatives, geographies, sources, currencies."""
    indicators = {
        row[0]: IndicatorInfo(row[0], row[1], row[2], float(row[3]), row[4])
        for row in conn.execute(
            "SELECT id, dimension, base_unit, multiplier, default_initiative FROM indicators"
        ).fetchall()
    }
    geographies: dict[str, str] = {}
    for geo_id, name in conn.execute("SELECT id, name FROM geographies").fetchall():
        geographies.setdefault(str(name).lower(), geo_id)
    for (geo_id,) in conn.execute("SELECT id FROM geographies").fetchall():
        geographies[str(geo_id).lower()] = geo_id
    source_rows = conn.execute("SELECT id, title FROM sources").fetchall()
    currencies = {r[0] for r in conn.execute("SELECT DISTINCT currency FROM fx_rates").fetchall()}
    return Catalog(
        indicators=indicators,
        initiatives={r[0] for r in conn.execute("SELECT id FROM initiatives").fetchall()},
        geographies=geographies,
        sources={row[0]: row[1] for row in source_rows},
        source_titles={row[1]: row[0] for row in source_rows},
        currencies=currencies | {"USD"},
    )


def write_batch(
    conn: Connection,
    rows: pl.DataFrame,
    *,
    files: Sequence[str],
    sha256s: Sequence[str],
    new_sources: pl.DataFrame | None = None,
    dry_run: bool = False,
) -> BatchSummary:
    """Record one batch of observations inside the caller's transaction.

    `rows` has OBSERVATION_COLUMNS. Each row is new (key not seen), unchanged (same value,
    currency and note as the current vintage: nothing is written) or a revision (a new
    vintage; the old one gets superseded_at). With dry_run, or when every row is unchanged,
    nothing is written and batch_id is None.
    """
    recorded_at = utc_now()
    conn.register("incoming_rows", ArrowStream(rows.select(OBSERVATION_COLUMNS)))
    try:
        new, revised = (int(n) for n in conn.execute(_COUNT_SQL).fetchall()[0])
        unchanged = rows.height - new - revised
        batch_id: int | None = None
        # Loading what is already there changes nothing: not even a batch record.
        if not dry_run and (new or revised):
            _register_sources(conn, new_sources)
            batch_id = int(
                _scalar(
                    conn,
                    "INSERT INTO batches (files, sha256, rows_read, rows_new, rows_revised, "
                    "rows_unchanged, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    ["; ".join(files), "; ".join(sha256s), rows.height, new, revised,
                     unchanged, recorded_at],
                )
            )  # fmt: skip
            # Row order in the table means nothing; not keeping it makes the insert parallel.
            conn.execute("SET preserve_insertion_order = false")
            try:
                if revised:
                    conn.execute(_SUPERSEDE_SQL, [recorded_at])
                # Revised points have no current vintage now: both they and new points
                # are the rows without one.
                conn.execute(_INSERT_SQL, [batch_id, recorded_at])
                _update_latest_points(conn, batch_id)
            finally:
                conn.execute("RESET preserve_insertion_order")
    finally:
        conn.unregister("incoming_rows")
    return BatchSummary(
        batch_id=batch_id,
        files=tuple(files),
        rows_read=rows.height,
        rows_new=new,
        rows_revised=revised,
        rows_unchanged=unchanged,
        dry_run=dry_run,
    )


_KEYS = ", ".join(KEY_COLUMNS)
_SAME_VINTAGE = (
    "{a}.value = {b}.value AND {a}.currency IS NOT DISTINCT FROM {b}.currency "
    "AND {a}.note IS NOT DISTINCT FROM {b}.note"
)
_COUNT_SQL = f"""
SELECT count(*) FILTER (WHERE c.indicator IS NULL) AS new,
       count(*) FILTER (
           WHERE c.indicator IS NOT NULL AND NOT ({_SAME_VINTAGE.format(a="c", b="s")})
       ) AS revised
FROM incoming_rows AS s
LEFT JOIN observations_current AS c USING ({_KEYS})
"""
_SUPERSEDE_SQL = f"""
UPDATE observations AS o SET superseded_at = ?
FROM incoming_rows AS s
WHERE o.superseded_at IS NULL
  AND {" AND ".join(f"o.{k} = s.{k}" for k in KEY_COLUMNS)}
  AND NOT ({_SAME_VINTAGE.format(a="o", b="s")})
"""
_INSERT_SQL = f"""
INSERT INTO observations
SELECT {", ".join(f"s.{c}" for c in OBSERVATION_COLUMNS)}, ? AS batch, ? AS recorded_at,
       NULL AS superseded_at
FROM incoming_rows AS s
ANTI JOIN observations_current AS c USING ({_KEYS})
"""

# latest_points after batch $1, without reading the whole table: the newest
# period end of each series the batch touched (its rows and the summary's); the summary's
# rows of those series that end earlier, or that the batch revised, go; the batch's rows at
# that end come in. Hash joins against the few touched series, no ranking.
_SERIES = ("indicator", "initiative", "geography", "source")
_LATEST_COLUMNS = ", ".join((*OBSERVATION_COLUMNS, "batch", "recorded_at"))
_ON_SERIES = " AND ".join(f"{{a}}.{c} = {{b}}.{c}" for c in _SERIES)
_LATEST_MAX_SQL = f"""
CREATE OR REPLACE TEMP TABLE latest_max AS
WITH fresh AS (
    SELECT {", ".join(_SERIES)}, max(period_end) AS period_end
    FROM observations WHERE batch = $1 GROUP BY ALL
)
SELECT f.{", f.".join(_SERIES)}, greatest(f.period_end, max(l.period_end)) AS period_end
FROM fresh AS f LEFT JOIN latest_points AS l ON {_ON_SERIES.format(a="l", b="f")}
GROUP BY f.{", f.".join(_SERIES)}, f.period_end
"""
_LATEST_DROP_SQL = f"""
DELETE FROM latest_points AS l USING latest_max AS m
WHERE {_ON_SERIES.format(a="l", b="m")} AND l.period_end < m.period_end
"""
_FRESH_AT_MAX = f"""
SELECT o.{", o.".join(_LATEST_COLUMNS.split(", "))}
FROM observations AS o JOIN latest_max AS m
    ON {_ON_SERIES.format(a="o", b="m")} AND o.period_end = m.period_end
WHERE o.batch = $1
"""
_LATEST_REVISED_SQL = f"""
DELETE FROM latest_points AS l USING ({_FRESH_AT_MAX}) AS f
WHERE {" AND ".join(f"l.{c} = f.{c}" for c in KEY_COLUMNS)}
"""
_LATEST_ADD_SQL = f"INSERT INTO latest_points {_FRESH_AT_MAX}"
_LATEST_REBUILD_SQL = f"""
INSERT INTO latest_points
SELECT {_LATEST_COLUMNS} FROM observations_current
QUALIFY period_end = max(period_end) OVER (PARTITION BY {", ".join(_SERIES)})
"""


class ArrowStream:
    """A polars frame as DuckDB scans it through the Arrow C stream interface: no pyarrow
    (whose import alone costs more than scanning a million rows), and every scan of the
    registered name reads the frame afresh."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def _update_latest_points(conn: Connection, batch_id: int) -> None:
    conn.execute(_LATEST_MAX_SQL, [batch_id])
    try:
        conn.execute(_LATEST_DROP_SQL)
        conn.execute(_LATEST_REVISED_SQL, [batch_id])
        conn.execute(_LATEST_ADD_SQL, [batch_id])
    finally:
        conn.execute("DROP TABLE IF EXISTS latest_max")


def refresh_latest_points(conn: Connection) -> None:
    """Rebuild latest_points from observations, for writes that did not go
    through `write_batch` (`tracker sql --write`, tools writing the table directly)."""
    if not _scalar(conn, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'latest_points'"):
        return
    conn.execute("DELETE FROM latest_points")
    conn.execute(_LATEST_REBUILD_SQL)


def _register_sources(conn: Connection, new_sources: pl.DataFrame | None) -> None:
    if new_sources is None or not new_sources.height:
        return
    conn.register("new_source_rows", ArrowStream(new_sources))
    try:
        conn.execute(
            "INSERT OR IGNORE INTO sources (id, title, url, kind, note) "
            "SELECT id, title, url, kind, note FROM new_source_rows"
        )
    finally:
        conn.unregister("new_source_rows")


# --- queries -------------------------------------------------------------------------------


def query(conn: Connection, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
    """Run one read query with bound parameters; the result as a polars frame."""
    relation = conn.sql(sql, params=list(params) if params is not None else None)
    if relation is None:
        return pl.DataFrame()
    frame: pl.DataFrame = relation.pl()
    return frame


def run_user_sql(conn: Connection, text: str, *, write: bool) -> pl.DataFrame | None:
    """Run a user's SQL text (one or more statements); the last statement's result, if any.

    Without `write` the connection must be read-only and locked down (see `lock_down`); with
    `write` all statements run in one transaction, rolled back if any fails, and
    latest_points is rebuilt in it.
    """
    try:
        statements = conn.extract_statements(text)
    except duckdb.Error as error:
        raise QueryError(f"SQL not understood: {_first_line(str(error))}") from None
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
    except duckdb.Error as error:
        if write:
            conn.execute("ROLLBACK")
        message = _first_line(str(error))
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


def require_initialised(path: Path) -> None:
    """Raise a clear error unless `path` is a tracker database (used before read commands)."""
    with connect(path, read_only=True):
        pass

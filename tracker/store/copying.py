"""Copy a whole store into a new or empty one of either kind (`tracker store migrate`): a
DuckDB file into a team store's catalog, a catalog into a file, or a file into a file.

Every table of the main schema and of the run history is copied whole, with every vintage
and run record and the ids as they are; the list comes from the source, and a source table
or column the target lacks (or types that differ) is refused before anything is written.
The target is built by its own kind's `tracker init` path (a file gets its migrations, a
catalog its replayed schema and PostgreSQL sequences), and its id sequences are set past the
copied ids afterwards. Each table is then checked: row count and a checksum computed by the
same SQL on both sides (`table_check`).

Atomicity: a catalog target is written in one DuckLake transaction (main schema and run
history alike), checked inside it and committed only when every table matches, so a failure
leaves the catalog as empty as it was. A file target (and its run-history file) is built
under temporary names and renamed into place only when every table matches.

The source is read, never written: a file read-only (DuckDB's lock keeps writers out while
it is read), a catalog at one snapshot (`AT (VERSION => n)`), so the copy is consistent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tracker.errors import DatabaseFileError, InputError, TrackerError
from tracker.location import StoreLocation, TeamStore
from tracker.store import connection
from tracker.store.connection import SAFE_CONFIG, Connection, scalar

# Names under which the file stores are attached to the copying connection (a catalog is
# attached as `lake`, by store.team).
_SOURCE, _SOURCE_RUNS = "tracker_source", "tracker_source_runs"
_TARGET, _TARGET_RUNS = "tracker_target", "tracker_target_runs"
_NEXTVAL = re.compile(r"nextval\('(?:[\w.]*\.)?(\w+)'\)")
# The run-history tables that hold no records of their own.
_BOOKKEEPING = {"schema_migrations"}


class MigrationMismatchError(TrackerError):
    """The copy differs from its source in some table; nothing was kept (exit code 1)."""

    def __init__(self, message: str, checks: list[TableCheck]) -> None:
        super().__init__(message)
        self.checks = checks


@dataclass(frozen=True)
class Part:
    """Where one half of a store lives on the copying connection: its main tables, or its
    run history (`database.schema`), and how a table of it is read."""

    database: str
    schema: str
    snapshot: int | None = None  # a catalog source is read at this DuckLake snapshot

    def table(self, name: str) -> str:
        """`name` qualified, at the snapshot when there is one."""
        at = f" AT (VERSION => {int(self.snapshot)})" if self.snapshot is not None else ""
        return f'{self.database}.{self.schema}."{name}"{at}'


@dataclass(frozen=True)
class TableCheck:
    """One table compared after the copy: rows and checksum on each side."""

    part: str  # "main" or "runs" (the run history)
    table: str
    source_rows: int
    source_checksum: int
    target_rows: int
    target_checksum: int

    @property
    def matches(self) -> bool:
        return (self.source_rows, self.source_checksum) == (
            self.target_rows,
            self.target_checksum,
        )

    @property
    def name(self) -> str:
        """`observations`, or `runs.report_runs` for a run-history table."""
        return self.table if self.part == "main" else f"runs.{self.table}"


def checksum_sql(relation: str, columns: list[str]) -> str:
    """SQL giving (row count, checksum) of `relation`: the sum of a 64-bit hash of each row's
    canonical text. The text is every column in the given order, cast to VARCHAR (exact for
    DECIMAL, TIMESTAMP, DATE, DOUBLE and lists) and written as `<length>:<text>` or `-` for
    NULL, so no two different rows read alike; the sum, unlike XOR, counts duplicates."""
    parts = [
        f"coalesce(length(CAST(\"{c}\" AS VARCHAR)) || ':' || CAST(\"{c}\" AS VARCHAR), '-')"
        for c in columns
    ]
    row = f"concat({', '.join(parts)})" if parts else "''"
    return f"SELECT count(*), coalesce(sum(hash({row})), 0) FROM {relation}"


def table_check(
    conn: Connection, part: str, table: str, columns: list[str], source: Part, target: Part
) -> TableCheck:
    """Row count and checksum of `table` in `source` and `target`, by the same SQL."""
    rows, checksum = conn.execute(checksum_sql(source.table(table), columns)).fetchall()[0]
    copied, copied_checksum = conn.execute(checksum_sql(target.table(table), columns)).fetchall()[0]
    return TableCheck(part, table, int(rows), int(checksum), int(copied), int(copied_checksum))


# --- the copy ------------------------------------------------------------------------------


def migrate_store(source: StoreLocation, target: StoreLocation) -> list[TableCheck]:
    """Copy store `source` into `target` (new, or an empty team store), every table whole;
    the check of each table. InputError (exit 2) when the target exists or holds data, or
    the two stores' tables differ; MigrationMismatchError when a copied table differs (the
    target is then left as it was)."""
    _refuse_pairs(source, target)
    with connection.connect(source, read_only=True):  # a tracker store, fully migrated
        pass
    if isinstance(source, Path) and not connection.run_history_path(source).is_file():
        raise connection.run_history_problem(source, "is missing")
    if isinstance(target, TeamStore):
        return _into_catalog(source, target)
    return _into_file(source, target)


def _refuse_pairs(source: StoreLocation, target: StoreLocation) -> None:
    if isinstance(source, TeamStore) and isinstance(target, TeamStore):
        raise InputError(
            f"--to: {target} is a team store, and so is the source {source}: copy a catalog "
            "through a file (`tracker --db CATALOG store migrate --to FILE`, then `tracker "
            "--db FILE store migrate --to CATALOG`). Nothing was changed."
        )
    if isinstance(target, Path):
        runs = connection.run_history_path(target)
        for path in (target, runs):
            if path.exists() or path.is_symlink():
                raise InputError(
                    f"--to: {path} exists; a store is copied only into a new file, never "
                    "merged into or written over another. Choose a new file name (or move "
                    f"{path} away). Nothing was changed."
                )


def _into_catalog(source: StoreLocation, target: TeamStore) -> list[TableCheck]:
    """File -> catalog: one DuckLake transaction, checked before it commits."""
    assert isinstance(source, Path)
    from tracker.store import team

    _refuse_catalog_with_data(target)
    _build(target)
    with team.connect(target) as conn:
        _attach_file_source(conn, source)
        parts = {
            "main": (Part(_SOURCE, "main"), Part(team.LAKE, "main")),
            "runs": (Part(_SOURCE_RUNS, "main"), Part(team.LAKE, team.RUNS_SCHEMA)),
        }
        plan = _plan(conn, parts)
        sequences = _sequences(conn, _SOURCE, _SOURCE_RUNS)
        with connection.transaction(conn):
            for part, table, columns in plan:
                _copy_table(conn, table, columns, *parts[part])
            checks = [_check(conn, part, table, columns, parts) for part, table, columns in plan]
            _raise_on_mismatch(checks, source, target)
        for part, table, column, sequence in sequences:
            largest = scalar(conn, f'SELECT max("{column}") FROM {parts[part][1].table(table)}')
            team.set_next_id_past(conn, sequence, int(largest or 0))
    return checks


def _refuse_catalog_with_data(target: TeamStore) -> None:
    """InputError when the catalog holds a tracker store with any batch or run record."""
    from tracker.store import team

    try:
        with team.connect_catalog(target) as conn:
            tables = conn.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                "AND (table_name = 'batches' AND schema_name = 'main' OR schema_name = ?)",
                [team.LAKE, team.RUNS_SCHEMA],
            ).fetchall()
            holding = [
                f"{schema}.{table}"
                for schema, table in tables
                if table not in _BOOKKEEPING
                and scalar(conn, f'SELECT count(*) FROM {team.LAKE}.{schema}."{table}"')
            ]
    except DatabaseFileError:
        return  # no catalog yet: `tracker init`'s path creates it
    if holding:
        raise InputError(
            f"--to: the team store {target} already holds data (rows in "
            f"{', '.join(sorted(holding))}); a store is copied only into a new or empty one, "
            "never merged with another. Choose another PostgreSQL database. Nothing was "
            "changed."
        )


def _into_file(source: StoreLocation, target: Path) -> list[TableCheck]:
    """Catalog or file -> file: built under temporary names, renamed when every table
    matches; removed otherwise."""
    building = target.with_name(f".{target.name.removesuffix('.duckdb')}.migrating-"
                                f"{os.getpid()}.duckdb")  # fmt: skip
    building_runs = connection.run_history_path(building)
    final = [(building_runs, connection.run_history_path(target)), (building, target)]
    _remove(building, building_runs)
    target.parent.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    try:
        _build(building)
        with _source_connection(source) as (conn, parts):
            conn.execute(f"ATTACH {_literal(building)} AS {_TARGET}")
            conn.execute(f"ATTACH {_literal(building_runs)} AS {_TARGET_RUNS}")
            parts = {
                "main": (parts["main"][0], Part(_TARGET, "main")),
                "runs": (parts["runs"][0], Part(_TARGET_RUNS, "main")),
            }
            plan = _plan(conn, parts)
            sequences = _sequences(conn, _TARGET, _TARGET_RUNS)
            for database in (_TARGET, _TARGET_RUNS):  # a transaction writes one database
                with connection.transaction(conn):
                    for part, table, columns in plan:
                        if parts[part][1].database == database:
                            _copy_table(conn, table, columns, *parts[part])
            for part, table, column, sequence in sequences:
                _advance_file_sequence(conn, parts[part][1], table, column, sequence)
            checks = [_check(conn, part, table, columns, parts) for part, table, columns in plan]
            for database in (_TARGET, _TARGET_RUNS):
                conn.execute(f"CHECKPOINT {database}")
                conn.execute(f"DETACH {database}")
        _raise_on_mismatch(checks, source, target)
        for built, path in final:  # the main file last: a store appears only when whole
            if path.exists():  # made meanwhile by someone else: never written over
                raise InputError(f"--to: {path} appeared while copying; nothing was kept.")
            os.replace(built, path)
            placed.append(path)
    except BaseException:
        _remove(building, building_runs)
        if len(placed) < len(final):
            _remove(*placed)  # the run history of a store that did not appear
        raise
    return checks


def _remove(*paths: Path) -> None:
    for path in paths:
        for candidate in (path, path.with_name(path.name + ".wal")):
            candidate.unlink(missing_ok=True)


def _build(target: StoreLocation) -> None:
    """The target's schema and run history, by the path `tracker init` takes (without its
    reference rows and definitions: those are copied from the source)."""
    with connection.create_or_open(target) as conn:
        connection.migrate(conn)
    connection.create_run_history(target)


@contextmanager
def _source_connection(
    source: StoreLocation,
) -> Iterator[tuple[Connection, dict[str, tuple[Part, Part]]]]:
    """A connection reading the source (a file attached read-only, or a catalog at its
    current snapshot), with the source half of each part filled in."""
    if isinstance(source, Path):
        conn = duckdb.connect(":memory:", config=dict(SAFE_CONFIG))
        try:
            _attach_file_source(conn, source)
            main, runs = Part(_SOURCE, "main"), Part(_SOURCE_RUNS, "main")
            yield conn, {"main": (main, main), "runs": (runs, runs)}
        finally:
            conn.close()
        return
    from tracker.store import team

    with team.connect(source, read_only=True) as conn:
        snapshot = int(scalar(conn, f"SELECT id FROM {team.LAKE}.current_snapshot()"))
        main = Part(team.LAKE, "main", snapshot)
        runs = Part(team.LAKE, team.RUNS_SCHEMA, snapshot)
        yield conn, {"main": (main, main), "runs": (runs, runs)}


def _attach_file_source(conn: Connection, source: Path) -> None:
    """Attach the source file and its run history read-only, waiting (bounded) while
    another process writes them."""
    for name, path in ((_SOURCE, source), (_SOURCE_RUNS, connection.run_history_path(source))):
        statement = f"ATTACH {_literal(path)} AS {name} (READ_ONLY)"

        def attach(statement: str = statement) -> object:
            return conn.execute(statement)

        connection._while_locked(
            path, None, attach,
            "cannot be opened as a DuckDB database ({reason}). Nothing was changed.",
        )  # fmt: skip


def _literal(path: Path) -> str:
    """A path as an SQL string literal: ATTACH takes no bound parameter."""
    return "'" + str(path).replace("'", "''") + "'"


def _columns(conn: Connection, part: Part, table: str) -> list[tuple[str, str]]:
    sql = (
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index"
    )
    return [(n, t) for n, t in conn.execute(sql, [part.database, part.schema, table]).fetchall()]


def _tables(conn: Connection, part: Part) -> list[str]:
    sql = (
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "ORDER BY table_name"
    )
    return [row[0] for row in conn.execute(sql, [part.database, part.schema]).fetchall()]


def _plan(
    conn: Connection, parts: dict[str, tuple[Part, Part]]
) -> list[tuple[str, str, list[str]]]:
    """(part, table, columns) of every source table; InputError naming what the target
    lacks or types differently."""
    plan = []
    for part, (source, target) in parts.items():
        there = set(_tables(conn, target))
        for table in _tables(conn, source):
            where = table if part == "main" else f"runs.{table}"
            if table not in there:
                raise InputError(
                    f"the source has a table {where} that the target lacks: it was made by a "
                    "newer tracker or changed by hand. Copy it with the tracker that made "
                    "it, or drop the table from the source. Nothing was changed."
                )
            columns, target_columns = _columns(conn, source, table), _columns(conn, target, table)
            if columns != target_columns:
                differ = sorted(set(columns) ^ set(target_columns))
                shown = ", ".join(f"{name} {kind}" for name, kind in differ)
                raise InputError(
                    f"the table {where} has different columns or types in the source and the "
                    f"target ({shown}): its values would not copy exactly. Migrate both with "
                    "the same tracker (`tracker init`). Nothing was changed."
                )
            plan.append((part, table, [name for name, _ in columns]))
    return plan


def _copy_table(
    conn: Connection, table: str, columns: list[str], source: Part, target: Part
) -> None:
    """Replace the target table's rows (what its migrations seeded) with the source's."""
    names = ", ".join(f'"{c}"' for c in columns)
    conn.execute(f"DELETE FROM {target.table(table)}")
    conn.execute(f"INSERT INTO {target.table(table)} ({names}) SELECT {names} FROM "
                 f"{source.table(table)}")  # fmt: skip


def _check(
    conn: Connection,
    part: str,
    table: str,
    columns: list[str],
    parts: dict[str, tuple[Part, Part]],
) -> TableCheck:
    return table_check(conn, part, table, columns, *parts[part])


def _sequences(conn: Connection, main: str, runs: str) -> list[tuple[str, str, str, str]]:
    """(part, table, column, sequence) of each id column a sequence fills, read from the
    column defaults of a DuckDB file store (`main` and `runs` databases)."""
    found = []
    for part, database in (("main", main), ("runs", runs)):
        rows = conn.execute(
            "SELECT table_name, column_name, column_default FROM duckdb_columns() "
            "WHERE database_name = ? AND schema_name = 'main' AND column_default LIKE "
            "'nextval(%' ORDER BY ALL",
            [database],
        ).fetchall()
        for table, column, default in rows:
            match = _NEXTVAL.search(default)
            if match:
                found.append((part, table, column, match.group(1)))
    return found


def _advance_file_sequence(
    conn: Connection, target: Part, table: str, column: str, sequence: str
) -> None:
    """Take values from the new file's sequence until it is past the copied ids (DuckDB
    has no setval)."""
    largest = int(scalar(conn, f'SELECT coalesce(max("{column}"), 0) FROM {target.table(table)}'))
    used = scalar(
        conn,
        "SELECT coalesce(last_value, 0) FROM duckdb_sequences() WHERE database_name = ? "
        "AND sequence_name = ?",
        [target.database, sequence],
    )
    if largest > int(used or 0):
        qualified = f"{target.database}.{target.schema}.{sequence}"
        conn.execute(f"SELECT max(nextval('{qualified}')) FROM range(?)",
                     [largest - int(used or 0)])  # fmt: skip


def _raise_on_mismatch(
    checks: list[TableCheck], source: StoreLocation, target: StoreLocation
) -> None:
    wrong = [check.name for check in checks if not check.matches]
    if wrong:
        raise MigrationMismatchError(
            f"{target}: the copy of {source} differs in {', '.join(wrong)} (row count or "
            "checksum, above); it was not kept, and the target is as it was before. "
            "Report this with the table above.",
            checks,
        )

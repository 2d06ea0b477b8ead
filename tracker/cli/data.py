"""The database commands: `tracker init`, `ingest`, `indicators` (and `indicators show`) and
`sql`. Each opens the store, calls one library function and prints the result.

The store and ingest packages are imported inside the commands, and `indicators` and `sql`
read plain rows, so `tracker --help` and `tracker sql` start without polars.
"""

from __future__ import annotations

import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from tracker import settings
from tracker.cli import sql_output
from tracker.cli.shared import db_path, err, out, print_second_sources, progress_bar, reported
from tracker.errors import InputError, TrackerError, UnknownNameError
from tracker.text import amount, did_you_mean

if TYPE_CHECKING:
    from tracker import ingest, store
    from tracker.models import BatchSummary

# --- init ---------------------------------------------------------------------------------


def init(ctx: typer.Context) -> None:
    """Create or migrate the schema, load reference tables, sync indicators/ into DuckDB."""
    from tracker import importers, store

    path = db_path(ctx)
    with reported():

        def initialise() -> tuple[list[str], dict[str, int], list[str], int]:
            with store.create_or_open(path) as conn:
                applied, counts, restored = store.initialise(conn)
                importers.check_shipped_mappings(conn, importers.FORMATS)
                found = store.query(conn, "SELECT count(*) AS n FROM indicators")["n"][0]
            return applied, counts, restored, int(found)

        what = "the schema, reference tables and indicator definitions"
        applied, counts, restored, indicator_count = store.retried(path, initialise, what=what)
        applied += store.retried(  # <db>.runs.duckdb: runs and deliveries
            path, lambda: store.create_run_history(path), what="the run history's schema"
        )
        migrations = ", ".join(applied) if applied else "schema up to date"
        tables = ", ".join(f"{table} {count}" for table, count in counts.items())
        out.print(f"{path}: {migrations}; {indicator_count} indicators; {tables}.")
        if restored:
            out.print(
                "Restored from indicators/ and data/reference/ (rows changed or deleted in "
                "the database, or new or changed in those files since the last init): "
                f"{'; '.join(restored)}."
            )


# --- ingest -------------------------------------------------------------------------------


def ingest_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="CSV files (long or wide format).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, write nothing.")
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(help="Source id or citation for rows that name none."),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of the files, e.g. latin-1.")
    ] = "utf-8",
    delimiter: Annotated[
        str | None,
        typer.Option(help="Field delimiter \\[default: ',' or, by the header, ';' or tab]."),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            help="How the numbers are written, e.g. de (1.234,5), fr, de_CH, en_IN \\[default: "
            "en, refusing a number another locale reads differently]."
        ),
    ] = None,
    decimal: Annotated[
        str | None,
        typer.Option(
            help="Only the decimal mark, '.' or ',' (digits grouped by the other, "
            "a space or an apostrophe)."
        ),
    ] = None,
) -> None:
    """Load indicator values from CSV files: all of them, or none if anything is refused."""
    from tracker import ingest, store

    path = db_path(ctx)
    options = ingest.IngestOptions(
        source=source, encoding=encoding, delimiter=delimiter, locale=locale, decimal=decimal
    )
    with reported():
        ingest.check_files(files)

        def load(conn: store.Connection) -> tuple[ingest.PreparedBatch, BatchSummary]:
            store.sync_definitions(conn)
            with progress_bar() as progress:
                return ingest.load(conn, files, options, progress=progress, dry_run=dry_run)

        what = f"the batch from {len(files)} file(s)"
        prepared, summary = store.write_transaction(path, load, what=what)
        for warning in prepared.warnings:
            err.print(warning, markup=False, highlight=False)
        if not dry_run and summary.batch_id is None:
            out.print(
                f"nothing new: all {summary.rows_read} rows from {len(files)} file(s) are "
                "already in the database; nothing was written.",
                highlight=False,
            )
            return
        print_second_sources(summary)
        verb = "would load" if dry_run else "loaded"
        batch = "" if summary.batch_id is None else f" as batch {summary.batch_id}"
        out.print(
            f"{verb} {summary.rows_read} rows from {len(files)} file(s){batch}: "
            f"{summary.rows_new} new, {summary.rows_revised} revised, "
            f"{summary.rows_unchanged} unchanged.",
            highlight=False,
        )
        if not dry_run:
            from tracker.cli.alerts import check_after_load

            check_after_load(path)


# --- indicators ---------------------------------------------------------------------------

# How a context indicator (context = true in its definition) is named where a programme would be.
CONTEXT_LABEL = "context"

LATEST_PER_INDICATOR = """
SELECT i.id, i.name, i.unit, i.count_noun, i.measure, i.frequency, i.category, i.context,
       l.value AS latest_value, l.qualifier, l.currency, l.period AS latest_period,
       l.initiative, l.source, coalesce(n.series, 0) AS series
FROM indicators AS i
LEFT JOIN (
    SELECT * FROM latest_values
    QUALIFY row_number() OVER (
        PARTITION BY indicator ORDER BY period_end DESC, period_start ASC, source
    ) = 1
) AS l ON l.indicator = i.id
LEFT JOIN (
    SELECT indicator, count(*) AS series FROM latest_values GROUP BY indicator
) AS n ON n.indicator = i.id
ORDER BY i.category, i.id
"""


def indicators_list(ctx: typer.Context) -> None:
    """List definitions with unit, measure, latest value and its period."""
    if ctx.invoked_subcommand is not None:
        return
    from tracker import store

    path = db_path(ctx)
    with reported(), store.connect(path, read_only=True) as conn:
        found = store.query_rows(conn, LATEST_PER_INDICATOR)
    table = Table(title=f"Indicators in {path.name if isinstance(path, Path) else path}")
    for column in ("id", "unit", "measure", "category", "latest", "period", "of", "series"):
        table.add_column(column, justify="right" if column in ("latest", "series") else "left")
    for row in found.records():
        table.add_row(
            row["id"],
            row["unit"],
            row["measure"],
            row["category"],
            "-"
            if row["latest_value"] is None
            else amount(
                row["latest_value"],
                row["unit"],
                row["currency"],
                row["count_noun"],
                row["qualifier"],
            ),
            row["latest_period"] or "no data yet",
            # a context figure is no programme's: never shown as if CONTEXT were one
            " ".join(
                filter(
                    None, [CONTEXT_LABEL if row["context"] else row["initiative"], row["source"]]
                )
            ),
            str(row["series"]),
        )
    out.print(table)


def indicators_show(
    ctx: typer.Context, indicator_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """One definition: its fields, series, targets and sources."""
    from tracker import store

    path = db_path(ctx)
    with reported(), store.connect(path, read_only=True) as conn:
        found = store.query_rows(conn, "SELECT * FROM indicators WHERE id = ?", [indicator_id])
        records = found.records()
        if not records:
            ids = store.query_rows(conn, "SELECT id FROM indicators ORDER BY id").records()
            known = [row["id"] for row in ids]
            raise UnknownNameError(_unknown("indicator", indicator_id, known))
        series = store.query_rows(conn, SERIES_OF_INDICATOR, [indicator_id])
        targets = store.query_rows(conn, TARGETS_OF_INDICATOR, [indicator_id])
        sources = store.query_rows(conn, SOURCES_OF_INDICATOR, [indicator_id])
    definition = records[0]
    out.print(Text.assemble((definition["id"], "bold"), f": {definition['name']}"))
    out.print(definition["description"], markup=False, highlight=False)
    for key in ("unit", "measure", "base_date", "base_note", "frequency", "category",
                "preferred_source", "default_initiative", "definition_file"):  # fmt: skip
        if definition[key] is not None:
            out.print(f"  {key}: {definition[key]}", markup=False, highlight=False)
    if definition["context"]:
        out.print(f"  {CONTEXT_LABEL}: belongs to no programme; never compared with one",
                  markup=False, highlight=False)  # fmt: skip
    out.print(sql_output.table(series, "Series (current vintages)"))
    out.print(sql_output.table(targets, "Targets") if any(targets.batches) else "Targets: none")
    out.print(sql_output.table(sources, "Sources"))


SERIES_OF_INDICATOR = """
SELECT c.initiative, c.geography, c.source, count(*) AS points,
       arg_min(c.period, c.period_end) AS first, arg_max(c.period, c.period_end) AS last,
       arg_max(c.value, c.period_end) AS latest_value,
       -- the newest point's qualifier, NULL when it is exact (arg_max would skip the NULL)
       arg_max_null(c.qualifier, c.period_end) AS latest_qualifier,
       any_value(c.currency) AS currency
FROM observations_current AS c
WHERE c.indicator = ?
GROUP BY ALL ORDER BY c.initiative, c.geography, c.source
"""
TARGETS_OF_INDICATOR = """
SELECT initiative, geography, label, target_value, target_currency, due, latest_period,
       latest_value, latest_qualifier, round(share_achieved * 100, 1) AS percent_achieved,
       target_source, contributor
FROM target_progress WHERE indicator = ? ORDER BY initiative, due, target_value
"""
SOURCES_OF_INDICATOR = """
SELECT s.id, s.title, s.publisher, s.published, s.kind, s.url
FROM sources AS s
WHERE s.id IN (
    SELECT source FROM observations_current WHERE indicator = ?1
    UNION SELECT source FROM targets WHERE indicator = ?1
)
ORDER BY s.id
"""


# --- sql ----------------------------------------------------------------------------------


def sql(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="SQL text (or use -f FILE).")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "-f", "--file", help="Read the SQL from this file (a regular file, <= 10 MB)."
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
    write: Annotated[
        bool, typer.Option("--write", help="Allow changes, in one transaction.")
    ] = False,
    allow_files: Annotated[
        bool,
        typer.Option(
            "--allow-files", help="Allow reading and writing files (read_csv, COPY); no network."
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Stop the query after this many seconds \\[default: TRACKER_SQL_TIMEOUT, 300]."
        ),
    ] = None,
) -> None:
    """Run ad-hoc SQL against the database: read-only unless --write."""
    from tracker import store

    path = db_path(ctx)
    with reported():
        output = sql_output.output_format(output)
        if (query is None) == (file is None):
            raise InputError("Give the SQL as an argument or with -f FILE (one of the two).")
        if timeout is not None and not timeout > 0:
            raise InputError(f"--timeout: found {timeout:g}, expected a number of seconds > 0.")
        text = query if query is not None else _read_sql_file(file)
        options = store.SqlOptions(
            write=write,
            allow_files=allow_files,
            timeout=timeout or settings.number(settings.SQL_TIMEOUT, minimum=0.001),
            memory_limit=settings.value(settings.SQL_MEMORY),
        )
        with store.open_user_sql(path, text, options) as session:
            _until_done(session, lambda: _print_outcome(session, output))


def _print_outcome(session: store.UserSql, output: str) -> None:
    """Run the session and write what it returns (its rows stream from the connection)."""
    outcome = session.run()
    if outcome.committed:
        changed = "" if outcome.rows_changed is None else f", {outcome.rows_changed} row(s) changed"
        err.print(
            f"Committed: {outcome.statements} statement(s) run{changed}.",
            markup=False,
            highlight=False,
        )
    if outcome.rows is None:
        return
    try:
        if output == "csv":
            sql_output.write_csv(outcome.rows, sys.stdout)
        elif output == "json":
            sql_output.write_json(outcome.rows, sys.stdout)
        else:
            out.print(sql_output.table(outcome.rows, None, limit=sql_output.TABLE_ROWS))
    except TrackerError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a Rust panic from a converter is a BaseException
        raise InternalQueryError(
            f"A value of the result could not be converted for output "
            f"({type(error).__name__}: {first_line(str(error))}). Cast the column to VARCHAR "
            "in the query to see it as DuckDB writes it."
        ) from None


def _until_done(session: store.UserSql, work: Callable[[], None]) -> None:
    """`work()` in a worker thread while this (main) thread waits, so Ctrl-C (SIGINT) is
    handled at once: DuckDB holds the worker in C code, where Python runs no handler."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread as is
            failure.append(error)

    worker = threading.Thread(target=target, name="tracker-sql", daemon=True)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if in_main:
        signal.signal(signal.SIGINT, lambda _signal, _frame: session.stop())
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    if failure:
        raise failure[0]


def _read_sql_file(file: Path | None) -> str:
    assert file is not None
    try:
        found = file.stat()
    except OSError as error:
        raise InputError(f"{file}: cannot read SQL file ({error.strerror}).") from None
    if not stat.S_ISREG(found.st_mode):
        kind = "a folder" if stat.S_ISDIR(found.st_mode) else "not a regular file"
        raise InputError(f"{file}: {kind}; -f reads SQL from a regular file.")
    limit = settings.SQL_FILE_LIMIT
    if found.st_size > limit:
        raise InputError(
            f"{file}: {found.st_size:,} bytes; -f reads SQL files of up to {limit // 2**20} MB."
        )
    try:
        with file.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise InputError(f"{file}: cannot read SQL file ({error.strerror}).") from None
    if len(data) > limit:
        raise InputError(f"{file}: more than {limit // 2**20} MB; -f reads SQL files up to that.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{file}: byte {error.start + 1} is not UTF-8 text; -f reads UTF-8 SQL files."
        ) from None


# --- helpers ------------------------------------------------------------------------------


def first_line(message: str) -> str:
    """The first line of an error text."""
    return message.strip().splitlines()[0] if message.strip() else message


class InternalQueryError(TrackerError):
    """A result value that could not be written (exit code 1)."""


def _unknown(kind: str, name: str, known: list[str]) -> str:
    return f"Unknown {kind} '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}."

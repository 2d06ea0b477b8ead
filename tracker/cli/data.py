"""The database commands: `tracker init`, `ingest`, `indicators` (and `indicators show`) and
`sql`. Each opens the store, calls one library function and prints the result.

The store and ingest packages are imported inside the commands, and `indicators` and `sql`
read plain rows, so `tracker --help` and `tracker sql` start without polars.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tracker.cli import sql_output
from tracker.cli.shared import db_path, err, out, progress_bar, reported
from tracker.errors import InputError, UnknownNameError
from tracker.text import amount, did_you_mean

# --- init ---------------------------------------------------------------------------------


def init(ctx: typer.Context) -> None:
    """Create or migrate the schema, load reference tables, sync indicators/ into DuckDB."""
    from tracker import store

    path = db_path(ctx)
    with reported():
        with store.create_or_open(path) as conn:
            applied, counts, restored = store.initialise(conn)
            indicator_count = store.query(conn, "SELECT count(*) AS n FROM indicators")["n"][0]
        applied += store.create_run_history(path)  # <db>.runs.duckdb: runs and deliveries
        migrations = ", ".join(applied) if applied else "schema up to date"
        tables = ", ".join(f"{table} {count}" for table, count in counts.items())
        out.print(f"{path}: {migrations}; {indicator_count} indicators; {tables}.")
        if restored:
            out.print(
                "Restored from indicators/ and data/reference/ (rows changed or deleted in "
                f"the database): {'; '.join(restored)}."
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
        typer.Option(help="Field delimiter [default: ',' or, by the header, ';' or tab]."),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            help="How the numbers are written, e.g. de (1.234,5), fr, de_CH, en_IN [default: "
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
        with store.connect(path) as conn, store.transaction(conn):
            store.sync_definitions(conn)
            with progress_bar() as progress:
                prepared, summary = ingest.load(
                    conn, files, options, progress=progress, dry_run=dry_run
                )
        for warning in prepared.warnings:
            err.print(warning, markup=False, highlight=False)
        if not dry_run and summary.batch_id is None:
            out.print(
                f"nothing new: all {summary.rows_read} rows from {len(files)} file(s) are "
                "already in the database; nothing was written.",
                highlight=False,
            )
            return
        verb = "would load" if dry_run else "loaded"
        batch = "" if summary.batch_id is None else f" as batch {summary.batch_id}"
        out.print(
            f"{verb} {summary.rows_read} rows from {len(files)} file(s){batch}: "
            f"{summary.rows_new} new, {summary.rows_revised} revised, "
            f"{summary.rows_unchanged} unchanged.",
            highlight=False,
        )


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
    table = Table(title=f"Indicators in {path.name}")
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
       target_source
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
        Path | None, typer.Option("-f", "--file", help="Read the SQL from this file.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
    write: Annotated[
        bool, typer.Option("--write", help="Allow changes, in one transaction.")
    ] = False,
) -> None:
    """Run ad-hoc SQL against the database: read-only unless --write."""
    from tracker import store

    path = db_path(ctx)
    with reported():
        output = output.lower()
        if output not in ("table", "csv", "json"):
            raise InputError(f"--format: found '{output}', expected table, csv or json.")
        if (query is None) == (file is None):
            raise InputError("Give the SQL as an argument or with -f FILE (one of the two).")
        text = query if query is not None else _read_sql_file(file)
        with store.connect(path, read_only=not write) as conn:
            store.attach_run_history(
                conn, path
            )  # report_runs, deliveries: the run history, read-only
            if not write:
                store.lock_down(conn)
            result = store.run_user_sql(conn, text, write=write)
            # Written while the connection is open: a read-only result streams from it.
            if result is None:
                if write:
                    out.print("done.")
            elif output == "csv":
                sql_output.write_csv(result, sys.stdout)
            elif output == "json":
                sql_output.write_json(result, sys.stdout)
            else:
                out.print(sql_output.table(result, None))


def _read_sql_file(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read SQL file ({error}).") from None


# --- helpers ------------------------------------------------------------------------------


def _unknown(kind: str, name: str, known: list[str]) -> str:
    return f"Unknown {kind} '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}."

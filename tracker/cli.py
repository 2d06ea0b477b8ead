"""The `tracker` command line: each command opens the store, calls one library function
and turns a domain error into a one-paragraph message.

Layer 4: the only module that prints or exits. Nothing imports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from tracker import definitions, ingest, report_definitions, settings, store
from tracker.errors import InputError, TrackerError, UnknownNameError

app = typer.Typer(
    help="Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
indicators_app = typer.Typer(
    help="List indicator definitions with unit, measure and latest value.",
    invoke_without_command=True,
)
app.add_typer(indicators_app, name="indicators")

# Piped output is not cut to 80 columns: tables keep their natural width for grep and files.
PIPED_WIDTH = 10_000
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)
T = TypeVar("T")


@dataclass
class Context:
    """Options shared by every command."""

    db: Path


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            envvar=settings.DB.env,
            help=f"{settings.DB.help} [default: {settings.DB.default} in the project]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Follow BRI, PGII and Global Gateway indicators in DuckDB; publish briefings."""
    ctx.obj = Context(db=db or settings.default_db())


def _context(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj


@contextmanager
def _reported() -> Iterator[None]:
    """Turn tracker errors into a message and exit code; never show a traceback."""
    try:
        yield
    except TrackerError as error:
        err.print(str(error), markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err.print("Interrupted; nothing was changed.")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:  # noqa: BLE001 - the promise is: no traceback, ever
        if os.environ.get("TRACKER_DEBUG"):
            raise
        err.print(
            f"Internal error: {type(error).__name__}: {error}. Nothing was changed. "
            "Run again with TRACKER_DEBUG=1 to see where it happened, and report it.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None


def _ensure_definitions_synced(conn: store.Connection) -> list[str]:
    """Sync indicators/ into the store when any definition file changed."""
    indicators = definitions.load_indicators(settings.indicators_dir())
    digest = definitions.definitions_digest(indicators)
    if store.stored_definitions_digest(conn) == digest:
        return []
    return store.sync_indicators(conn, indicators, digest) or ["definitions updated"]


# --- init ---------------------------------------------------------------------------------


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or migrate the schema, load reference tables, sync indicators/ into DuckDB."""
    path = _context(ctx).db
    with _reported():
        with store.create_or_open(path) as conn:
            applied = store.migrate(conn)
            with store.transaction(conn):
                counts = store.sync_reference(conn, settings.reference_dir())
                _ensure_definitions_synced(conn)
            indicator_count = store.query(conn, "SELECT count(*) AS n FROM indicators")["n"][0]
        migrations = ", ".join(applied) if applied else "schema up to date"
        tables = ", ".join(f"{table} {count}" for table, count in counts.items())
        out.print(f"{path}: {migrations}; {indicator_count} indicators; {tables}.")


# --- ingest -------------------------------------------------------------------------------


@app.command(name="ingest")
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
) -> None:
    """Load indicator values from CSV files: all of them, or none if anything is refused."""
    path = _context(ctx).db
    options = ingest.IngestOptions(source=source, encoding=encoding, delimiter=delimiter)
    with _reported():
        for file in files:
            if not file.is_file():
                raise InputError(f"{file}: no such file. Nothing was loaded.")
        with store.connect(path) as conn, store.transaction(conn):
            _ensure_definitions_synced(conn)
            catalog = store.catalog(conn)
            with _progress() as progress:
                prepared = ingest.prepare(files, catalog, options, progress=progress)
            summary = store.write_batch(
                conn,
                prepared.rows,
                files=[str(f) for f in prepared.files],
                sha256s=list(prepared.sha256s),
                new_sources=prepared.new_sources,
                dry_run=dry_run,
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


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on a terminal; nothing at all otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


# --- indicators ---------------------------------------------------------------------------

LATEST_PER_INDICATOR = """
SELECT i.id, i.name, i.unit, i.measure, i.frequency, i.category,
       l.value AS latest_value, l.currency, l.period AS latest_period,
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


@indicators_app.callback()
def indicators_list(ctx: typer.Context) -> None:
    """List definitions with unit, measure, latest value and its period."""
    if ctx.invoked_subcommand is not None:
        return
    path = _context(ctx).db
    with _reported(), store.connect(path, read_only=True) as conn:
        frame = store.query(conn, LATEST_PER_INDICATOR)
    table = Table(title=f"Indicators in {path.name}")
    for column in ("id", "unit", "measure", "category", "latest", "period", "of", "series"):
        table.add_column(column, justify="right" if column in ("latest", "series") else "left")
    for row in frame.iter_rows(named=True):
        table.add_row(
            row["id"],
            row["unit"],
            row["measure"],
            row["category"],
            _format_value(row["latest_value"], row["currency"], row["unit"]),
            row["latest_period"] or "no data yet",
            " ".join(filter(None, [row["initiative"], row["source"]])),
            str(row["series"]),
        )
    out.print(table)


@indicators_app.command("show")
def indicators_show(
    ctx: typer.Context, indicator_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """One definition: its fields, series, targets and sources."""
    path = _context(ctx).db
    with _reported(), store.connect(path, read_only=True) as conn:
        found = store.query(conn, "SELECT * FROM indicators WHERE id = ?", [indicator_id])
        if found.is_empty():
            known = store.query(conn, "SELECT id FROM indicators ORDER BY id")["id"].to_list()
            raise UnknownNameError(_unknown("indicator", indicator_id, known))
        series = store.query(conn, SERIES_OF_INDICATOR, [indicator_id])
        targets = store.query(conn, TARGETS_OF_INDICATOR, [indicator_id])
        sources = store.query(conn, SOURCES_OF_INDICATOR, [indicator_id])
    definition = found.row(0, named=True)
    out.print(f"[bold]{definition['id']}[/bold]: {definition['name']}", highlight=False)
    out.print(definition["description"], markup=False, highlight=False)
    for key in ("unit", "measure", "base_date", "base_note", "frequency", "category",
                "preferred_source", "default_initiative", "definition_file"):  # fmt: skip
        if definition[key] is not None:
            out.print(f"  {key}: {definition[key]}", markup=False, highlight=False)
    out.print(_frame_table(series, "Series (current vintages)"))
    out.print(_frame_table(targets, "Targets") if targets.height else "Targets: none")
    out.print(_frame_table(sources, "Sources"))


SERIES_OF_INDICATOR = """
SELECT c.initiative, c.geography, c.source, count(*) AS points,
       arg_min(c.period, c.period_end) AS first, arg_max(c.period, c.period_end) AS last,
       arg_max(c.value, c.period_end) AS latest_value, any_value(c.currency) AS currency
FROM observations_current AS c
WHERE c.indicator = ?
GROUP BY ALL ORDER BY c.initiative, c.geography, c.source
"""
TARGETS_OF_INDICATOR = """
SELECT initiative, geography, label, target_value, target_currency, due, latest_period,
       latest_value, round(share_achieved * 100, 1) AS percent_achieved, target_source
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


@app.command()
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
    path = _context(ctx).db
    with _reported():
        output = output.lower()
        if output not in ("table", "csv", "json"):
            raise InputError(f"--format: found '{output}', expected table, csv or json.")
        if (query is None) == (file is None):
            raise InputError("Give the SQL as an argument or with -f FILE (one of the two).")
        text = query if query is not None else _read_sql_file(file)
        with store.connect(path, read_only=not write) as conn:
            store.attach_runs(conn, path)  # report_runs, deliveries: the run history, read-only
            if not write:
                store.lock_down(conn)
            result = store.run_user_sql(conn, text, write=write)
        if result is None:
            if write:
                out.print("done.")
            return
        if output == "csv":
            sys.stdout.write(result.write_csv())
        elif output == "json":
            sys.stdout.write(result.write_json() + "\n")
        else:
            out.print(_frame_table(result, None))


def _read_sql_file(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read SQL file ({error}).") from None


# --- helpers ------------------------------------------------------------------------------


def _frame_table(frame: pl.DataFrame, title: str | None) -> Table:
    table = Table(title=title)
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def _format_value(value: float | None, currency: str | None, unit: str) -> str:
    if value is None:
        return "-"
    shown_unit = unit if currency is None else unit.replace(unit.split(" ")[0], currency, 1)
    return f"{value:,.4g} {shown_unit}" if abs(value) < 1e4 else f"{value:,.0f} {shown_unit}"


def _unknown(kind: str, name: str, known: list[str]) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"Unknown {kind} '{name}'.{hint} Known: {', '.join(known)}."


def run() -> None:
    """Entry point for `python -m tracker`."""
    app()


# --- briefings ----------------------------------------------------------------------------
from time import perf_counter  # noqa: E402

from tracker import report as briefings  # noqa: E402 - this section's own import
from tracker import variant_runs  # noqa: E402


@app.command()
def brief(
    ctx: typer.Context,
    report_name: Annotated[
        str | None,
        typer.Argument(
            metavar="REPORT",
            help="Briefing name: a file in reports/ without '.toml'. All of them if left out.",
            show_default=False,
        ),
    ] = None,
    formats: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="pdf, html or pdf,html (default: the definition's formats). The CSV and "
            "manifest.json are always written.",
            show_default=False,
        ),
    ] = None,
    out_root: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (default: reports/out); files go to DIR/<report>/<date>/.",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="Render the briefing as it would have been on DATE (YYYY-MM-DD, UTC), "
            "from the data recorded by then.",
            show_default=False,
        ),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUE",
            help="Render the variant with this parameter value, e.g. --param geography=KAZ "
            "(repeat for more parameters). Files go to DIR/<report>/<date>/<name>-<value>/.",
            show_default=False,
        ),
    ] = None,
    each: Annotated[
        str | None,
        typer.Option(
            "--each",
            metavar="NAME",
            help="Render one variant per allowed value of parameter NAME (e.g. --each "
            "geography), in parallel, with a progress bar.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Render a briefing (all of them without REPORT) to PDF, HTML, CSV and manifest.json."""
    path = _context(ctx).db
    with _reported():
        moment = briefings.parse_as_of(as_of) if as_of is not None else None
        if params or each:
            _brief_variants(path, report_name, params or [], each, formats, out_root, moment)
            return
        results = briefings.render_briefings(
            path,
            report_name,
            formats=formats.split(",") if formats is not None else None,
            out_root=out_root,
            as_of=moment,
        )
        for result in results:
            stamp = f"{result.data_as_of:%Y-%m-%d %H:%M} UTC" if result.data_as_of else "none"
            names = ", ".join(file.name for file in result.files)
            out.print(
                f"{result.report}: issue {result.issue} of {result.briefing_date}, data as of "
                f"{stamp}; wrote {names} to {result.output_dir}",
                markup=False,
                highlight=False,
            )


def _brief_variants(
    path: Path,
    report_name: str | None,
    params: list[str],
    each: str | None,
    formats: str | None,
    out_root: Path | None,
    moment: Any,
) -> None:
    """`tracker brief REPORT --param NAME=VALUE` / `--each NAME`: one line per variant, then
    the count of PDFs and the time; exit 1 when any variant failed."""
    if report_name is None:
        raise InputError("--param and --each need a briefing name: tracker brief REPORT ...")
    started = perf_counter()
    with _progress() as progress:
        outcomes = variant_runs.render_variants(
            path, report_name, params=params, each=[each] if each else [],
            formats=formats.split(",") if formats is not None else None, out_root=out_root,
            as_of=moment, progress=progress,
        )  # fmt: skip
    pdfs = 0
    for outcome in outcomes:
        result = outcome.rendered
        if result is None:
            err.print(f"{report_name} ({outcome.label}): failed: {outcome.error}",
                      markup=False, highlight=False)  # fmt: skip
            continue
        pdfs += sum(1 for file in result.files if file.suffix == ".pdf")
        names = ", ".join(file.name for file in result.files)
        out.print(
            f"{result.report} ({outcome.label}): issue {result.issue} of "
            f"{result.briefing_date}; wrote {names} to {result.output_dir}",
            markup=False,
            highlight=False,
        )
    failed = [o for o in outcomes if o.rendered is None]
    out.print(
        f"{report_name}: {len(outcomes) - len(failed)} of {len(outcomes)} variant(s) rendered, "
        f"{pdfs} PDF(s), in {perf_counter() - started:.1f} s.",
        markup=False,
        highlight=False,
    )
    if failed:
        raise typer.Exit(max(o.exit_code for o in failed))


@app.command(name="reports")
def reports_command(ctx: typer.Context) -> None:
    """List briefing definitions with schedule, formats, last run and output folder."""
    path = _context(ctx).db
    with _reported():
        listings = briefings.list_reports(path)
    if not listings:
        out.print("No briefing definitions in reports/.")
    for item in listings:
        out.print(f"{item.name}: {item.title}", markup=False, highlight=False)
        out.print(
            f"  cadence: {item.cadence or '-'}; schedule: {item.schedule}; "
            f"formats: {item.formats}\n  last run: {item.last_run}\n"
            f"  output: {item.last_output}",
            markup=False,
            highlight=False,
        )
        if item.parameters:
            out.print(f"  parameters: {item.parameters}; render one per value with --each",
                      markup=False, highlight=False)  # fmt: skip


# --- scheduled briefings and delivery -------------------------------------------------------
import logging  # noqa: E402 - this section's own imports
import time  # noqa: E402

from tracker import deliver as delivery  # noqa: E402
from tracker import schedule as scheduling  # noqa: E402
from tracker import schedule_children, schedule_jobs  # noqa: E402

schedule_app = typer.Typer(
    help="Render briefings on their cron schedule (reports/*.toml [schedule]).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_to_stderr() -> None:
    """One line per event on stderr; no timestamps when journald reads it (it adds its own)."""
    formatter = logging.Formatter(
        schedule_children.log_format("JOURNAL_STREAM" in os.environ), datefmt="%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    logger = logging.getLogger("tracker")
    logger.handlers[:] = [h for h in logger.handlers if not isinstance(h, _StderrHandler)]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # our own lines say it all


@schedule_app.command("list")
def schedule_list(ctx: typer.Context) -> None:
    """Each scheduled briefing: cron, time zone, last run, next run, missed run."""
    path = _context(ctx).db
    with _reported():
        listings, problems = schedule_jobs.list_schedules(path)
    for problem in problems:
        err.print(f"not scheduled: {problem}", markup=False, highlight=False)
    if not listings:
        out.print("No briefing in reports/ has a [schedule].")
        return
    table = Table(title="Scheduled briefings")
    for column in ("report", "cron", "timezone", "last run", "next run", "catch-up"):
        table.add_column(column)
    for item in listings:
        table.add_row(item.name, item.cron, item.timezone, item.last_run, item.next_run,
                      item.catch_up or "-")  # fmt: skip
    out.print(table)


@schedule_app.command("run")
def schedule_run(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run every briefing that is due, then exit (cron, timers)."),
    ] = False,
) -> None:
    """Run the scheduler in the foreground (a service runs this); logs go to stderr."""
    path = _context(ctx).db
    _log_to_stderr()
    with _reported():
        runner = scheduling.BriefingScheduler(path)
        if once:
            failed = runner.run_once()
            if failed:
                raise typer.Exit(1)
        else:
            runner.run_forever()


@app.command(name="deliver")
def deliver_command(
    ctx: typer.Context,
    report_name: Annotated[
        str, typer.Argument(metavar="REPORT", help="Briefing name: a file in reports/.")
    ],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            metavar="ADDRESS",
            help="Send to this address instead of the definition's recipients (repeat for more).",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[
        int | None,
        typer.Option(
            "--run",
            metavar="ID",
            help="Deliver this run (report_runs.id) instead of the newest succeeded one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send the newest rendered briefing to its recipients now (and copy it to the outbox)."""
    path = _context(ctx).db
    _log_to_stderr()
    with _reported():
        definition = report_definitions.load_report(
            report_definitions.find_report(settings.reports_dir(), report_name),
            settings.templates_dir(),
        )
        done = delivery.deliver_briefing(path, definition, run_id=run_id, to=to or ())
    sent = (
        f"e-mailed to {', '.join(done.recipients)}" if done.emailed
        else f"not e-mailed ({done.note})"
    )  # fmt: skip
    out.print(
        f"{done.report}: issue {done.issue} (run {done.run_id}) copied to {done.outbox}; {sent}.",
        markup=False,
        highlight=False,
    )

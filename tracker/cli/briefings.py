"""The briefing commands: `tracker brief` (a draft, or with --publish an issue, of a
briefing, all of them, or its variants) and `tracker reports`. The briefing package (polars,
Altair, WeasyPrint, Jinja2) is imported inside the commands, so the rest of the command line
starts without it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Annotated, Any

import typer

from tracker.cli.shared import db_path, err, out, progress_bar, reported
from tracker.errors import InputError
from tracker.location import StoreLocation


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
            help="Output folder (default: reports/drafts for a draft, reports/out for an "
            "issue); a draft goes to DIR/<report>/<date>/, an issue to "
            "DIR/<report>/<issue>-<date>/.",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="Render the briefing as it would have been on DATE (YYYY-MM-DD, UTC), "
            "from the data recorded by then (a draft unless --publish is given).",
            show_default=False,
        ),
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Publish an issue: it takes the next issue number, counts for the schedule, "
            "is the previous briefing of the next issue, goes to its own folder and is listed "
            "in the archive page. Without it the render is a draft, marked DRAFT.",
        ),
    ] = False,
    note: Annotated[
        Path | None,
        typer.Option(
            "--note",
            metavar="FILE.md",
            help="Add an editor's note after the cover: Markdown (raw HTML shown as text, "
            "images as their alt text, links only http, https and mailto).",
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
    """Render a draft of a briefing (all of them without REPORT), or publish an issue with
    --publish: PDF, HTML, CSV and manifest.json."""
    from tracker import briefing

    path = db_path(ctx)
    with reported(), _sigterm_ends_the_run():
        moment = briefing.parse_as_of(as_of) if as_of is not None else None
        editor_note = briefing.read_note(note) if note is not None else None
        if params or each:
            _brief_variants(path, report_name, params or [], each, formats, out_root, moment,
                            publish, editor_note)  # fmt: skip
            return
        results = briefing.render_briefings(
            path,
            report_name,
            formats=formats.split(",") if formats is not None else None,
            out_root=out_root,
            as_of=moment,
            publish=publish,
            note=editor_note,
        )
        for result in results:
            stamp = f"{result.data_as_of:%Y-%m-%d %H:%M} UTC" if result.data_as_of else "none"
            names = ", ".join(file.name for file in result.files)
            out.print(
                f"{result.briefing_name}: {result.label} of {result.briefing_date}, data as of "
                f"{stamp}; wrote {names} to {result.output_dir}",
                markup=False,
                highlight=False,
            )
            _archive_line(result)


def _archive_line(result: Any) -> None:
    """Say where the archive page was rewritten after a publish, or why it was not."""
    if result.archive_error:
        err.print(f"Warning: {result.archive_error}", markup=False, highlight=False)
    elif result.archive is not None:
        out.print(f"archive: {result.archive}", markup=False, highlight=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM during `tracker brief`: raised where the render is, so its run is recorded
    as failed (a KeyboardInterrupt, so no `except Exception` swallows it)."""


@contextmanager
def _sigterm_ends_the_run() -> Iterator[None]:
    def stop(number: int, frame: object) -> None:
        raise Terminated("stopped by SIGTERM before it finished")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _brief_variants(
    path: StoreLocation,
    report_name: str | None,
    params: list[str],
    each: str | None,
    formats: str | None,
    out_root: Path | None,
    moment: Any,
    publish: bool,
    note: Any,
) -> None:
    """`tracker brief REPORT --param NAME=VALUE` / `--each NAME`: one line per variant, then
    the count of PDFs and the time; exit 1 when any variant failed."""
    from tracker import briefing

    if report_name is None:
        raise InputError("--param and --each need a briefing name: tracker brief REPORT ...")
    started = perf_counter()
    with progress_bar() as progress:
        outcomes = briefing.render_variants(
            path, report_name, params=params, each=[each] if each else [],
            formats=formats.split(",") if formats is not None else None, out_root=out_root,
            as_of=moment, progress=progress, publish=publish, note=note,
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
            f"{result.briefing_name} ({outcome.label}): {result.label} of "
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
    first = next((o.rendered for o in outcomes if o.rendered is not None), None)
    if publish and first is not None:  # once more, after every worker wrote its own
        _archive_line(briefing.rewrite_archive(path, out_root, first))
    if failed:
        raise typer.Exit(max(o.exit_code for o in failed))


def reports_command(ctx: typer.Context) -> None:
    """List briefing definitions with schedule, formats, last run and output folder."""
    from tracker import briefing

    path = db_path(ctx)
    with reported():
        listings = briefing.list_briefings(path)
    if not listings:
        out.print("No briefing definitions in reports/.")
    for item in listings:
        out.print(f"{item.name}: {item.title}", markup=False, highlight=False)
        out.print(
            f"  cadence: {item.cadence or '-'}; schedule: {item.schedule}; "
            f"formats: {item.formats}\n  last run: {item.last_run}\n"
            f"  last issue: {item.last_output}",
            markup=False,
            highlight=False,
        )
        if item.parameters:
            out.print(f"  parameters: {item.parameters}; render one per value with --each",
                      markup=False, highlight=False)  # fmt: skip

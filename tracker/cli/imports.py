"""`tracker import FORMAT FILE...`: publishers' files, mapped by indicators/mappings/*.toml,
loaded as one batch exactly as `tracker ingest` loads CSV files.

The importers and the store are imported inside the command, so `tracker --help` starts
without polars.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.shared import db_path, err, out, print_second_sources, progress_bar, reported
from tracker.errors import InputError

if TYPE_CHECKING:
    from tracker import store
    from tracker.importers import ImportSummary

FORMATS = ("worldbank", "sdmx", "aiddata")  # importers.FORMATS, named here for --help
UNMAPPED_SHOWN = 10


def import_command(
    ctx: typer.Context,
    format_name: Annotated[
        str, typer.Argument(metavar="FORMAT", help=f"One of {', '.join(FORMATS)}.")
    ],
    files: Annotated[list[Path], typer.Argument(help="The publisher's files, as downloaded.")],
    mapping: Annotated[
        list[Path] | None,
        typer.Option(
            "--map",
            help="Mapping file (indicators/mappings/*.toml format); may be given more than "
            "once \\[default: every mapping in indicators/mappings/ for FORMAT].",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read, map and check; write nothing.")
    ] = False,
) -> None:
    """Import figures from publishers' files (World Bank CSV, SDMX, AidData GCDF records):
    all of them, or none."""
    from tracker import importers, store
    from tracker.files import file_problems

    path = db_path(ctx)
    with reported():
        if format_name not in FORMATS:
            raise InputError(
                f"FORMAT: found '{format_name}', expected one of {', '.join(FORMATS)}."
            )
        adapter = importers.adapter(format_name)
        # as `ingest.check_files` does, without importing ingest (polars) before it is needed
        problems = file_problems(files) + file_problems(mapping or [])
        if problems:
            raise InputError(" ".join(problems) + " Nothing was loaded.")

        def load(conn: store.Connection) -> ImportSummary:
            store.sync_definitions(conn)
            checked = store.checked_mappings_digest(conn, format_name)
            mappings = importers.load_mapping(format_name, mapping or None, checked=checked)
            with progress_bar() as progress:
                summary = importers.import_files(
                    conn, adapter, files, mappings, progress=progress, dry_run=dry_run
                )
            if mappings.digest != checked:
                store.record_checked_mappings(conn, format_name, mappings.digest)
            return summary

        summary = store.write_transaction(
            path, load, what=f"the import of {len(files)} file(s)", keep=not dry_run
        )
        _print_summary(summary, dry_run, format_name)
        if not dry_run and summary.batch.batch_id is not None:
            from tracker.cli.alerts import check_after_load

            check_after_load(path)


def _print_summary(summary: ImportSummary, dry_run: bool, format_name: str) -> None:
    """What was (or would be) loaded, and what was skipped and why."""
    for warning in summary.warnings:
        err.print(warning, markup=False, highlight=False)
    batch = summary.batch
    print_second_sources(batch)
    files = f"{len(summary.files)} file(s)"
    if not dry_run and batch.batch_id is None and batch.rows_read:
        said = (
            f"nothing new: all {batch.rows_read:,} values from {files} are already in the "
            "database; nothing was written."
        )
    else:
        verb = "would import" if dry_run else "imported"
        number = "" if batch.batch_id is None else f" as batch {batch.batch_id}"
        said = (
            f"{verb} {batch.rows_read:,} values from {files}{number}: {batch.rows_new:,} new, "
            f"{batch.rows_revised:,} revised, {batch.rows_unchanged:,} unchanged."
        )
    fx = summary.fx_batch
    if fx is not None:
        verb = "would write" if dry_run else "wrote"
        number = "" if fx.batch_id is None else f" as batch {fx.batch_id}"
        rates = (
            f"{verb} {fx.rows_read:,} annual exchange rates to fx_rates{number}: "
            f"{fx.rows_new:,} new, {fx.rows_revised:,} revised, {fx.rows_unchanged:,} unchanged."
        )
        if not fx.rows_read:
            rates = "no annual exchange rate could be made from the files (see above)."
        elif not dry_run and fx.batch_id is None:
            rates = (
                f"nothing new: all {fx.rows_read:,} annual exchange rates are already in "
                "fx_rates; none was written."
            )
        if not batch.rows_read:  # the files held only exchange rates
            out.print(rates + _skipped(summary, format_name), highlight=False)
            return
        out.print(rates, highlight=False)
    out.print(said + _skipped(summary, format_name), highlight=False)
    if summary.projects is not None:
        counts = summary.projects
        verb = "would record" if dry_run else "recorded"
        where = "" if summary.project_batch is None else f" in batch {summary.project_batch}"
        out.print(
            f"Project records: {counts.read:,} read, {verb}{where}: {counts.new:,} new, "
            f"{counts.revised:,} revised, {counts.unchanged:,} unchanged.",
            highlight=False,
        )


def _skipped(summary: ImportSummary, format_name: str = "worldbank") -> str:
    """' Skipped: 266 rows of 1 indicator code with no mapping (NY.GDP.PCAP.CD); 3,520
    cells with no value (empty or '..').'"""
    parts = []
    if summary.unmapped:
        codes = sorted(summary.unmapped)
        listed = ", ".join(codes[:UNMAPPED_SHOWN])
        more = f", and {len(codes) - UNMAPPED_SHOWN} more" if len(codes) > UNMAPPED_SHOWN else ""
        rows = sum(summary.unmapped.values())
        what = "series" if format_name == "sdmx" else "indicator code(s)"
        parts.append(f"{rows:,} rows of {len(codes):,} {what} with no mapping ({listed}{more})")
    if summary.missing:
        parts.append(f"{summary.missing:,} cells with no value (empty or '..')")
    return f" Skipped: {'; '.join(parts)}." if parts else ""

"""One `tracker import`: publishers' files -> tracker's own long rows -> the batch
`tracker ingest` writes, through the very same `ingest.load` (one transaction, vintages,
a `batches` record, the same checks and summary).

The adapter interface. An adapter is a function

    read(path: Path, raw: bytes, mapping: Mapping) -> FileRows

registered in `ADAPTERS` under its FORMAT. It turns one publisher's file into rows of tracker's
long CSV (`ROW_COLUMNS`: indicator, initiative, geography, period, value, unit, source, note,
all text; `value` as the file writes it; optionally `qualifier`) plus a `where` column: the
place in the publisher's file each row comes from ('API_NY.GDP.MKTP.CD.csv:12 (Kazakhstan, KAZ,
NY.GDP.MKTP.CD, 2019)'), which every ingest message about the row shows. It maps series through
`mapping.series` (publisher code -> `Series`), counts what it skips (series with no mapping:
`FileRows.unmapped`; cells with no value: `FileRows.missing`; never a zero) and says when the
file states its release (`FileRows.published`). A file that is not of the format is refused with
`FileRefused` (one paragraph: the file, what was found, what was expected); the import then
loads nothing. Everything after that (the source rows, units, geographies, periods, revisions,
dry runs) is done here and in `ingest`, once for all formats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tracker.errors import IngestError, InputError
from tracker.importers.mappings import Mapping, check_mapping
from tracker.models import BatchSummary
from tracker.store import (
    Connection,
    ProjectCounts,
    assign_projects_batch,
    catalog,
    record_source,
    write_fx_rates,
)

if TYPE_CHECKING:
    # polars and ingest are imported where rows are loaded: an import of exchange rates
    # only (the ECB's EXR files) starts without them (0.2 s; README "Benchmarks").
    import polars as pl

    from tracker.importers.fx_rates import ExrObservation
    from tracker.ingest import InlineCsv

ROW_COLUMNS = ("indicator", "initiative", "geography", "period", "value", "unit", "source",
               "note")  # fmt: skip
WHERE = "where"
ADVICE = (
    'Fix the file or the mapping and run `tracker import` again; see README "Importing '
    "publishers' files\"."
)


class FileRefused(InputError):
    """A publisher's file that is not of the format the adapter reads (one paragraph)."""


@dataclass(frozen=True)
class FileRows:
    """What an adapter made of one publisher's file."""

    rows: pl.DataFrame | None  # ROW_COLUMNS and WHERE, all text; None: no long rows
    unmapped: dict[str, int] = field(default_factory=dict)  # publisher code -> rows skipped
    missing: int = 0  # cells with no value ('..', empty), skipped
    published: date | None = None  # the release date the file states
    warnings: tuple[str, ...] = ()
    fx: list[ExrObservation] | None = None  # sdmx: ECB EXR observations for fx_rates
    # project records (`tracker import aiddata`): written to `projects`, then the long rows
    # of derived indicators are computed from all current records
    projects: pl.DataFrame | None = None


Adapter = Callable[[Path, bytes, Mapping], FileRows]


@runtime_checkable
class ReadsAllFiles(Protocol):
    """An adapter that sees every file of the import before reading one (SDMX: the
    structure messages that structure-specific data needs)."""

    def __call__(self, path: Path, raw: bytes, mapping: Mapping) -> FileRows: ...

    def with_files(self, files: Sequence[tuple[Path, bytes]]) -> Adapter: ...


@dataclass(frozen=True)
class ImportSummary:
    """What one `tracker import` did (or, dry, would do)."""

    batch: BatchSummary
    files: tuple[str, ...]
    fx_batch: BatchSummary | None  # the exchange rates written to fx_rates (sdmx)
    unmapped: dict[str, int]  # publisher code -> rows skipped, over all files
    missing: int
    warnings: tuple[str, ...]
    projects: ProjectCounts | None = None  # project records read, new, revised
    project_batch: int | None = None  # the batch of the new project vintages


FORMATS = ("worldbank", "sdmx", "aiddata")


def adapter(format_name: str) -> Adapter:
    """The adapter of one of FORMATS, only its own module imported (sdmx1 for `sdmx`;
    polars for `worldbank` and `aiddata`)."""
    if format_name == "sdmx":
        from tracker.importers.sdmx import SdmxReader

        return SdmxReader()
    if format_name == "worldbank":
        from tracker.importers.worldbank import read

        return read
    from tracker.importers.aiddata import read as read_aiddata

    return read_aiddata


def adapters() -> dict[str, Adapter]:
    """Each FORMAT of `tracker import` and its adapter."""
    return {name: adapter(name) for name in FORMATS}


def import_files(
    conn: Connection,
    adapter: Adapter,
    paths: Sequence[Path],
    mapping: Mapping,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    dry_run: bool = False,
) -> ImportSummary:
    """Read `paths` with `adapter` and load what it maps as one batch, inside the caller's
    transaction; IngestError (or DefinitionError for the mapping) lists what was refused."""
    if any(entry.indicator is not None for entry in mapping.series.values()):
        check_mapping(mapping, catalog(conn))  # entries for fx_rates name nothing of it
    read: list[tuple[Path, str, FileRows]] = []
    problems: list[str] = []
    raws: list[tuple[Path, bytes]] = []
    for path in paths:
        try:
            raws.append((path, path.read_bytes()))
        except OSError as error:
            problems.append(f"{path}: cannot be read ({error.strerror or error}).")
    if isinstance(adapter, ReadsAllFiles):
        adapter = adapter.with_files(raws)
    for number, (path, raw) in enumerate(raws):
        if progress:
            progress(f"reading {mapping.format} files", number, len(paths))
        try:
            rows = adapter(path, raw, mapping)
        except FileRefused as refusal:
            problems.append(str(refusal))
            continue
        read.append((path, hashlib.sha256(raw).hexdigest(), rows))
    if progress:
        progress(f"reading {mapping.format} files", len(paths), len(paths))
    if problems:
        raise IngestError(problems, ADVICE)
    fx_batch, fx_warnings = _fx_rates(conn, read, mapping, dry_run)
    files = [str(path) for path, _, _ in read]
    digests = [digest for _, digest, _ in read]
    released = [rows.published for _, _, rows in read if rows.published is not None]
    for source in mapping.sources:
        # the newest release read is the source's date; the mapping's when no file says
        record_source(conn, replace(source, published=max(released, default=source.published)))
    warnings = [w for _, _, rows in read for w in rows.warnings] + fx_warnings
    frames = [rows.projects for _, _, rows in read if rows.projects is not None]
    projects = None
    if frames:
        from tracker.importers.aiddata import record_and_derive

        try:
            derivation = record_and_derive(conn, frames, mapping)
        except FileRefused as refusal:
            raise IngestError([str(refusal)], ADVICE) from None
        projects = derivation.projects
        warnings.extend(derivation.warnings)
        # The derived rows stand for every file read: one inline CSV named by the first.
        path, digest, first = read[0]
        read = [(path, digest, replace(first, rows=derivation.rows))]
    inline = [
        _inline(path, digest, rows.rows)
        for path, digest, rows in read
        if rows.rows is not None and rows.rows.height
    ]
    if inline:
        from tracker.ingest import IngestOptions, load

        try:
            prepared, batch = load(
                conn, inline, IngestOptions(), progress=progress, dry_run=dry_run
            )
        except IngestError as error:  # the same problems, with the advice of an import
            raise IngestError(error.problems, ADVICE, error.total) from None
        warnings.extend(prepared.warnings)
    else:
        batch = BatchSummary(None, (), 0, 0, 0, 0, dry_run=dry_run)
    unmapped: dict[str, int] = {}
    for _, _, rows in read:
        for code, count in rows.unmapped.items():
            unmapped[code] = unmapped.get(code, 0) + count
    project_batch = None
    changed = projects is not None and (projects.new or projects.revised or batch.batch_id)
    if changed and not dry_run:
        project_batch = assign_projects_batch(conn, batch.batch_id, files, digests)
    return ImportSummary(
        batch=batch,
        files=tuple(files),
        fx_batch=fx_batch,
        unmapped=unmapped,
        missing=sum(rows.missing for _, _, rows in read),
        warnings=tuple(warnings),
        projects=projects,
        project_batch=project_batch,
    )


def _fx_rates(
    conn: Connection, read: list[tuple[Path, str, FileRows]], mapping: Mapping, dry_run: bool
) -> tuple[BatchSummary | None, list[str]]:
    """The annual rates the files' EXR observations make, written to fx_rates as one batch
    (its own `batches` row); warnings name the currency-years no rate could be made for."""
    parts = [rows.fx for _, _, rows in read if rows.fx is not None]
    if not parts:
        return None, []
    from tracker.importers.fx_rates import annual_rates

    sources = {s.source for s in mapping.series.values() if s.target == "fx_rates"}
    made = annual_rates([obs for part in parts for obs in part], sorted(sources)[0])
    files = [(str(path), digest) for path, digest, rows in read if rows.fx is not None]
    batch = write_fx_rates(
        conn, made.rates, files=[f for f, _ in files], sha256s=[d for _, d in files],
        dry_run=dry_run,
    )  # fmt: skip
    warnings = []
    if made.not_made:
        shown = "; ".join(made.not_made[:10])
        more = f"; and {len(made.not_made) - 10} more" if len(made.not_made) > 10 else ""
        warnings.append(f"No annual exchange rate made for {shown}{more}.")
    return batch, warnings


def _inline(path: Path, digest: str, rows: pl.DataFrame) -> InlineCsv:
    """The adapter's rows as tracker's long CSV, standing for the publisher's file."""
    import polars as pl

    from tracker.ingest import InlineCsv

    places = rows[WHERE].to_list()
    # sdmx rows may carry a qualifier (OBS_STATUS E: approximate), read as ingest reads one
    columns = [*ROW_COLUMNS, *(["qualifier"] if "qualifier" in rows.columns else [])]
    text = rows.select(columns).write_csv()
    # A row spans more than one line when a field holds a line break (quoted).
    spans = rows.select(
        pl.sum_horizontal(pl.col(c).fill_null("").str.count_matches("\n") for c in ROW_COLUMNS) + 1
    ).to_series()
    first_lines = (spans.cum_sum() - spans + 2).to_list()  # line 1 is the header
    row_at = dict(zip(first_lines, range(len(places)), strict=True))

    def where(line: int) -> str:
        row = row_at.get(line)
        return f"{path}:{line}" if row is None else str(places[row])

    return InlineCsv(str(path), text.encode("utf-8"), sha256=digest, where=where)

"""AidData GCDF 3.0 project records -> `projects`, and the figures of derived indicators
(the adapter of `tracker import aiddata`).

Reads the published layout of AidData's Global Chinese Development Finance dataset, version
3.0: the CSV (UTF-8, with or without BOM) or the XLSX workbook (the sheet whose header row
holds 'AidData Record ID'; read by fastexcel), 120+ columns of which `COLUMNS` are taken, by
their published names, and the others ignored. A file without one of them is refused naming
it. Cells are checked column by column (vectorised); each problem names the file, line and
column. The records then go to `projects` as vintages, and every indicator file with a
[derived] table gets its figures computed from the current records in SQL: ordinary rows of
tracker's long CSV, loaded with the ingest checks in the same transaction.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracker import settings
from tracker.definitions.indicators import definition_files, load_indicator
from tracker.importers.batch import ROW_COLUMNS, WHERE, FileRefused, FileRows
from tracker.importers.mappings import Mapping
from tracker.ingest.csv_text import Dialect, parse
from tracker.models import Indicator
from tracker.store import Connection, ProjectCounts, current_points, derived_figures
from tracker.store import write_projects as store_projects
from tracker.text import show

# Published header -> column of `projects`, and how its cells are read.
COLUMNS: dict[str, tuple[str, str]] = {
    "AidData Record ID": ("record_id", "id"),
    "Recommended For Aggregates": ("recommended_for_aggregates", "yes/no"),
    "Title": ("title", "text"),
    "Recipient": ("recipient", "text"),
    "Recipient ISO-3": ("recipient_iso3", "text"),
    "Recipient Region": ("recipient_region", "text"),
    "Commitment Year": ("commitment_year", "year"),
    "Commitment Date (MM/DD/YYYY)": ("commitment_date", "date"),
    "Status": ("status", "text"),
    "Intent": ("intent", "text"),
    "Flow Type": ("flow_type", "text"),
    "Flow Class": ("flow_class", "text"),
    "Sector Code": ("sector_code", "integer"),
    "Sector Name": ("sector_name", "text"),
    "Infrastructure": ("infrastructure", "flag"),
    "Amount (Original Currency)": ("amount_original", "number"),
    "Original Currency": ("original_currency", "text"),
    "Amount (Constant USD 2021)": ("amount_constant_usd_2021", "number"),
    "Amount (Nominal USD)": ("amount_nominal_usd", "number"),
    "Funding Agencies": ("funding_agencies", "list"),
    "Source URLs": ("source_urls", "list"),
}
LAYOUT = (
    "an AidData GCDF 3.0 project file as published (CSV or XLSX): a header row with "
    "'AidData Record ID', 'Recommended For Aggregates', 'Recipient ISO-3', 'Commitment Year', "
    "'Sector Name', 'Amount (Constant USD 2021)' and the other published columns, one row per "
    "project record"
)
EXPECTED = {
    "id": "a whole number (the AidData Record ID)",
    "yes/no": "'Yes' or 'No'",
    "year": "a year (2015) or nothing",
    "date": "a date (2015-03-31 or 03/31/2015) or nothing",
    "integer": "a whole number or nothing",
    "flag": "'Yes', 'No' or nothing",
    "number": "a number (1500000.0) or nothing",
}
PROBLEMS_SHOWN = 10
DERIVED_FROM = "projects"


def read(path: Path, raw: bytes, mapping: Mapping) -> FileRows:
    """One GCDF file: its records as `FileRows.projects` (no long rows: those are derived
    from all current records once every file is read)."""
    frame, lines = _table(path, raw)
    header = {name.strip().lower(): name for name in frame.columns}
    missing = [name for name in COLUMNS if name.lower() not in header]
    if "aiddata record id" not in header:
        raise FileRefused(f"{path}: no 'AidData Record ID' column{_hint(frame.columns)}; "
                          f"expected {LAYOUT}.")  # fmt: skip
    if missing:
        raise FileRefused(
            f"{path}: the header has no column {', '.join(repr(m) for m in missing)}"
            f"{_hint(frame.columns)}; expected {LAYOUT}."
        )
    text = frame.select(
        pl.col(header[name.lower()]).str.strip_chars().replace("", None).alias(column)
        for name, (column, _) in COLUMNS.items()
    ).with_columns(lines.alias("line"))
    problems: list[str] = []
    typed = [_typed(path, text, name, column, kind, problems) for name, (column, kind)
             in COLUMNS.items()]  # fmt: skip
    if problems:
        raise FileRefused(_problems(path, problems))
    projects = pl.DataFrame(typed).with_columns(
        pl.lit(mapping.sources[0].id).alias("source"),
        pl.lit(str(path)).alias("file"),
        text["line"].cast(pl.Int32).alias("line"),
    )
    repeated = projects.filter(pl.col("record_id").is_duplicated())
    if repeated.height:
        shown = repeated.group_by("record_id").agg(pl.col("line")).sort("record_id").head(5)
        listed = "; ".join(
            f"{rid} on lines {', '.join(str(n) for n in found)}" for rid, found in shown.rows()
        )
        raise FileRefused(
            f"{path}: the same AidData Record ID on more than one row ({listed}); expected "
            "one row per record."
        )
    empty = pl.DataFrame(schema=[*ROW_COLUMNS, WHERE], orient="row")
    return FileRows(rows=empty.cast(pl.String), projects=projects)


def _table(path: Path, raw: bytes) -> tuple[pl.DataFrame, pl.Series]:
    """The file's cells as text, and the line (CSV) or sheet row (XLSX) of each row."""
    if raw.startswith(b"PK\x03\x04"):
        return _sheet(path, raw)
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise FileRefused(f"{path}: the file is empty; expected {LAYOUT}.")
    if head.startswith(b"<"):
        raise FileRefused(f"{path}: found XML or HTML; expected {LAYOUT}.")
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(
            f"{path}: found an old Excel (.xls) workbook; expected {LAYOUT} (save it as .xlsx "
            "or CSV)."
        )
    if b"\x00" in raw[:8192]:
        raise FileRefused(f"{path}: found binary data (NUL bytes); expected {LAYOUT}.")
    problems: list[str] = []

    def problem(line: int, message: str) -> None:
        problems.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    table = parse(raw, 0, Dialect("utf-8", ",", (), LAYOUT), problem)
    if problems or table is None:
        raise FileRefused(" ".join(problems[:PROBLEMS_SHOWN]) + f" Expected {LAYOUT}.")
    names = [f"c{i}" for i in range(len(table.header))]
    body = table.body.select(names).rename(dict(zip(names, table.header, strict=True)))
    if len(set(table.header)) < len(table.header):
        twice = sorted({n for n in table.header if table.header.count(n) > 1})
        raise FileRefused(f"{path}: the header names {', '.join(map(repr, twice))} twice; "
                          f"expected {LAYOUT}.")  # fmt: skip
    if table.lines is None:
        lines = pl.int_range(0, body.height, eager=True) + table.header_line + 1
    else:
        lines = table.lines
    return body, lines.cast(pl.Int64)


def _sheet(path: Path, raw: bytes) -> tuple[pl.DataFrame, pl.Series]:
    """The XLSX sheet whose header row holds 'AidData Record ID', cells as text."""
    import fastexcel  # here: only an XLSX import pays for it

    try:
        book = fastexcel.read_excel(raw)
    except Exception as error:  # fastexcel raises its own error types for any broken file
        raise FileRefused(
            f"{path}: a ZIP file that is not a readable XLSX workbook ({error}); expected {LAYOUT}."
        ) from None
    for name in book.sheet_names:
        sheet = book.load_sheet(name, dtypes="string", n_rows=0)
        if any(c.name.strip().lower() == "aiddata record id" for c in sheet.available_columns()):
            frame = book.load_sheet(name, dtypes="string").to_polars()
            return frame, pl.int_range(2, frame.height + 2, eager=True).cast(pl.Int64)
    raise FileRefused(
        f"{path}: no sheet of the workbook (sheets: {', '.join(map(repr, book.sheet_names))}) "
        f"has a header row with 'AidData Record ID'; expected {LAYOUT}."
    )


def _hint(columns: Sequence[str]) -> str:
    """A word on headers that spell the published names another way."""
    if any("AidData.Record.ID" in c for c in columns):
        return (" (the header writes the names with dots, 'AidData.Record.ID', as R's "
                "read.csv does: this is not the published file)")  # fmt: skip
    return ""


YEAR = r"^\d{4}(\.0+)?$"
INTEGER = r"^-?\d+(\.0+)?$"


def _typed(
    path: Path, text: pl.DataFrame, name: str, column: str, kind: str, problems: list[str]
) -> pl.Series:
    """One column's cells in their type; cells that do not read are added to `problems`."""
    cells = text[column]
    if kind == "text":
        return cells
    if kind == "list":
        return cells.str.split("|").list.eval(
            pl.element().str.strip_chars().filter(pl.element() != "")
        )
    lower = cells.str.to_lowercase()
    if kind == "yes/no":
        value, bad = lower == "yes", ~lower.is_in(["yes", "no"]).fill_null(False)
    elif kind == "flag":
        value = (lower == "yes").fill_null(False)
        bad = ~lower.is_in(["yes", "no"]) & cells.is_not_null()
    elif kind in ("id", "year", "integer"):
        pattern = YEAR if kind == "year" else INTEGER
        fits = cells.str.contains(pattern)
        value = cells.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
        value = value.cast(pl.Int32) if kind != "id" else value
        bad = ~fits.fill_null(kind != "id")
    elif kind == "number":
        value = cells.cast(pl.Float64, strict=False)
        bad = (value.is_null() | value.is_nan() | value.is_infinite()) & cells.is_not_null()
    else:  # date: ISO as published, or the MM/DD/YYYY the header names
        value = cells.str.to_date("%Y-%m-%d", strict=False).fill_null(
            cells.str.to_date("%m/%d/%Y", strict=False)
        )
        bad = value.is_null() & cells.is_not_null()
    bad = bad.fill_null(False)
    if bad.any():
        for line, found in text.filter(bad).select("line", column).head(PROBLEMS_SHOWN).rows():
            problems.append(
                f"{path}:{line}: column '{name}': found '{show(found or '')}', expected "
                f"{EXPECTED[kind]}."
            )
    return value.alias(column)


def _problems(path: Path, problems: list[str]) -> str:
    more = len(problems) - PROBLEMS_SHOWN
    tail = f" ... and {more} more." if more > 0 else ""
    return " ".join(problems[:PROBLEMS_SHOWN]) + tail + f" Expected {LAYOUT}."


@dataclass(frozen=True)
class Derivation:
    """What recording the records and deriving from them gave: the long rows to load."""

    rows: pl.DataFrame  # ROW_COLUMNS and WHERE
    projects: ProjectCounts
    warnings: tuple[str, ...]


def record_and_derive(
    conn: Connection, frames: Sequence[pl.DataFrame], mapping: Mapping
) -> Derivation:
    """Write the records of every file to `projects` (vintages), then compute the figures
    of every indicator whose file has a [derived] table from all current records of the
    mapping's source, as long rows citing it. A point it gave before and no record gives now
    (a record revised to another year) is set to 0, with a note saying why."""
    records = pl.concat(frames, how="vertical")
    repeated = records.filter(pl.col("record_id").is_duplicated())
    if repeated.height:
        first = repeated.sort("record_id", "file").head(2).rows(named=True)
        raise FileRefused(
            f"{first[0]['file']}:{first[0]['line']} and {first[1]['file']}:{first[1]['line']}: "
            f"the same AidData Record ID {first[0]['record_id']} in two files of one import; "
            "give each record once."
        )
    counts = store_projects(conn, records)
    source = mapping.sources[0].id
    rows: list[tuple[str, ...]] = []
    warnings: list[str] = []
    for indicator in derived_indicators():
        derived = indicator.derived
        if derived is None or derived.table != DERIVED_FROM:
            continue
        figures, left_out = derived_figures(conn, derived, source)
        if left_out:
            warnings.append(
                f"{indicator.id}: {left_out:,} record(s) left out: their recipient is not one "
                "country (a regional or multi-country recipient) or they have no commitment "
                "year."
            )
        given = set()
        for figure in figures:
            given.add((figure.geography, figure.period))
            if figure.value is None:
                continue
            count = derived.aggregate == "count"
            # a sum keeps whole US dollars: the published amounts carry the cents of a deflator, and
            # a figure in USD bn holds at most 12 decimals (stored exactly, never rounded later)
            value = str(int(figure.value)) if count else f"{figure.value:.0f}"
            rows.append(
                (indicator.id, derived.initiative, figure.geography, figure.period, value,
                 derived.unit, source, _note(derived.aggregate, derived.column, derived.label,
                                             figure.records, figure.with_amount, figure.period),
                 f"{indicator.id} for {figure.geography} {figure.period}, derived from "
                 f"{figure.records} project record(s)")
            )  # fmt: skip
        gone = current_points(conn, indicator.id, derived.initiative, source) - given
        for geography, period in sorted(gone):
            rows.append(
                (indicator.id, derived.initiative, geography, period, "0", derived.unit, source,
                 f"No {derived.label} recommended for aggregates with commitment year {period} "
                 "now (the records counted before were revised or moved).",
                 f"{indicator.id} for {geography} {period}, no project record now")
            )  # fmt: skip
    frame = pl.DataFrame(rows, schema=[*ROW_COLUMNS, WHERE], orient="row")
    return Derivation(rows=frame, projects=counts, warnings=tuple(warnings))


def derived_indicators() -> list[Indicator]:
    """The indicator definitions with a [derived] table. Only those files are checked in
    full: the others may need pint for their units, whose start costs more than an import."""
    found = []
    for path in definition_files(settings.indicators_dir()):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # `sync_definitions` has refused such a file before any import
        if "derived" in document:
            found.append(load_indicator(path))
    return found


def _note(
    aggregate: str, column: str | None, label: str, records: int, with_amount: int, year: str
) -> str:
    """What a derived figure is, in its note: what was counted or summed, over what."""
    what = f"{label} recommended for aggregates, commitment year {year}"
    if aggregate == "count":
        return f"Count of AidData GCDF project records: {records:,} {what}."
    measure = {"amount_constant_usd_2021": "Amount (Constant USD 2021), constant 2021 USD",
               "amount_nominal_usd": "Amount (Nominal USD)"}[column or ""]  # fmt: skip
    without = records - with_amount
    tail = f"; {without:,} of them without an amount, not in the sum" if without else ""
    summed = f"{with_amount:,} of {records:,} {what}{tail}"
    return f"Sum of {measure}, to the nearest dollar, over {summed}."

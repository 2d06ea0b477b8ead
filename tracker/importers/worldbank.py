"""World Bank CSV files -> tracker's long rows (the adapter of `tracker import worldbank`).

Reads the three layouts the World Bank publishes, with or without a byte-order mark:
- the API / "Download CSV" file of one indicator (`API_NY.GDP.MKTP.CD_DS2_en_csv_v2_*.csv`):
  a preamble ("Data Source","World Development Indicators" and "Last Updated Date",...) above
  the header `Country Name, Country Code, Indicator Name, Indicator Code, 1960, ...`, and a
  trailing empty column; spreadsheets pad the preamble with commas and may write the date as
  dd/mm/yyyy; the preamble may be gone, and the first header cell blank;
- the WDI bulk file (`WDICSV.csv`, `WDIData.csv`): the same header, no preamble;
- a DataBank export: `Country Name, Country Code, Series Name, Series Code, 2019 [YR2019],
  ...`, with a footer ("Data from database: ...", "Last Updated: ...").
Year columns are wide; `..` and empty cells mean no value and are skipped (counted), never
read as zero. Country codes are ISO alpha-3, and the World Bank's aggregates (WLD, EAS, LMC,
...) are geographies of kind `aggregate`. Indicator codes with no mapping are counted and
skipped. Only the mapped rows go on, through the ingest checks of `tracker ingest`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from tracker.importers.batch import ROW_COLUMNS, WHERE, FileRefused, FileRows
from tracker.importers.mappings import Mapping
from tracker.ingest.columns import ROW
from tracker.ingest.csv_text import Dialect, parse
from tracker.text import show

HEADER_WITHIN = 30  # lines: the API file's preamble is 4, spreadsheets may add a few
FOOTER_WITHIN = 4096  # characters at the end that may hold DataBank's footer
YEAR = re.compile(r"^(\d{4})(?: \[YR(\d{4})\])?$", re.ASCII | re.IGNORECASE)
NO_VALUE = ("", "..", "na", "n/a")
LAYOUTS = (
    "a World Bank CSV: a header row with 'Country Code' and 'Indicator Code' (WDI bulk or API"
    " download) or 'Series Code' (DataBank), then one column per year (1960, or 2019 "
    "[YR2019])"
)
UPDATED = re.compile(r"^\W*(?:Last Updated(?: Date)?)\W*[:,;\t]\W*([0-9][0-9/.-]*[0-9])", re.I)


def read(path: Path, raw: bytes, mapping: Mapping) -> FileRows:
    """One World Bank CSV file as tracker's long rows, mapped by `mapping`."""
    text = _text(path, raw)
    lines = _first_lines(text, HEADER_WITHIN + 1)
    header_at, delimiter = _header(path, lines)
    released = [_updated(path, line) for line in lines[:header_at]]
    start = sum(len(line) for line in lines[:header_at])
    body, footer = _without_footer(text[start:])
    released += [_updated(path, line) for line in footer]
    warnings = [w for _, w in released if w]
    published = max((d for d, _ in released if d is not None), default=None)

    problems: list[str] = []

    def problem(line: int, message: str) -> None:
        problems.append(f"{path}:{line + header_at}: {message}" if line else f"{path}: {message}")

    dialect = Dialect("utf-8", delimiter, (), LAYOUTS)
    table = parse(body.encode("utf-8"), 0, dialect, problem)
    if problems or table is None:
        raise FileRefused(" ".join(problems) + f" Expected {LAYOUTS}.")
    columns = _columns(path, table.header, header_at + 1, table.body)
    frame = table.body
    line = (
        pl.col(ROW) + (table.header_line + 1 + header_at)
        if table.lines is None
        else pl.lit(table.lines + header_at).gather(pl.col(ROW))
    )
    frame = frame.select(
        line.alias("line"),
        (pl.col(columns.name) if columns.name else pl.lit("")).str.strip_chars()
        .alias("country"),
        pl.col(columns.country).str.strip_chars().alias("country_code"),
        pl.col(columns.code).str.strip_chars().alias("code"),
        *(pl.col(c).alias(year) for c, year in columns.years),
    )  # fmt: skip
    mapped = frame["code"].is_in(list(mapping.series))
    unmapped = dict(frame.filter(~mapped).group_by("code").len().rows())
    years = [year for _, year in columns.years]
    cells = frame.filter(mapped).unpivot(
        on=years, index=["line", "country", "country_code", "code"], variable_name="period",
        value_name="value",
    )  # fmt: skip
    cells = cells.with_columns(pl.col("value").str.strip_chars())
    no_value = pl.col("value").is_null() | pl.col("value").str.to_lowercase().is_in(NO_VALUE)
    missing = int(cells.select(no_value.sum()).item())
    cells = cells.filter(~no_value)
    series = pl.DataFrame(
        [(s.code, s.indicator, s.initiative, s.geography, s.unit, s.source, s.note)
         for s in mapping.series.values()],
        schema=["code", "indicator", "initiative", "fixed_geography", "unit", "source", "note"],
        orient="row",
    )  # fmt: skip
    cells = cells.join(series, on="code", how="left")
    blank = cells.filter(pl.col("fixed_geography").is_null() & (pl.col("country_code") == ""))
    if blank.height:
        listed = ", ".join(str(n) for n in blank["line"].unique().sort().head(10))
        raise FileRefused(
            f"{path}: line(s) {listed}: the 'Country Code' cell is empty beside a value; "
            f"expected an ISO alpha-3 code or a World Bank aggregate code (WLD, EAS, LMC)."
        )
    rows = cells.sort("line", "period").select(
        "indicator",
        "initiative",
        pl.coalesce("fixed_geography", "country_code").alias("geography"),
        "period",
        "value",
        "unit",
        "source",
        "note",
        pl.format("{}:{} ({}, {}, {}, {})", pl.lit(str(path)), "line", "country",
                  "country_code", "code", "period").alias(WHERE),
    )  # fmt: skip
    assert tuple(rows.columns[: len(ROW_COLUMNS)]) == ROW_COLUMNS
    return FileRows(
        rows=rows, unmapped=unmapped, missing=missing, published=published, warnings=tuple(warnings)
    )


def _text(path: Path, raw: bytes) -> str:
    """The file's text; a file that cannot be a World Bank CSV is refused saying what it is."""
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not raw.strip(b"\xef\xbb\xbf \t\r\n"):
        raise FileRefused(f"{path}: the file is empty; expected {LAYOUTS}.")
    if head.startswith(b"<"):
        found = "XML or HTML (an SDMX message? use `tracker import sdmx`)"
        raise FileRefused(f"{path}: found {found}; expected {LAYOUTS}.")
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FileRefused(
            f"{path}: found a ZIP or Excel file; expected {LAYOUTS} (unzip the download, or "
            "save the sheet as CSV)."
        )
    if b"\x00" in raw[:8192]:
        raise FileRefused(f"{path}: found binary data (NUL bytes); expected {LAYOUTS}.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FileRefused(
            f"{path}:{line}: byte 0x{raw[error.start]:02X} is not UTF-8; the World Bank "
            f"publishes its CSV files in UTF-8 (expected {LAYOUTS})."
        ) from None


def _first_lines(text: str, count: int) -> list[str]:
    """The first `count` lines of `text`, each with its line end."""
    reader = io.StringIO(text, newline="")
    return [line for line in (reader.readline() for _ in range(count)) if line]


def _cells(line: str, delimiter: str) -> list[str]:
    return [c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter), [])]


def _header(path: Path, lines: list[str]) -> tuple[int, str]:
    """Where the header row is (0-based) and the delimiter it is written with."""
    for index, line in enumerate(lines[:HEADER_WITHIN]):
        for delimiter in (",", ";", "\t"):
            found = set(_cells(line, delimiter))
            if "country code" in found and found & {"indicator code", "series code"}:
                return index, delimiter
    first = show(lines[0].rstrip("\r\n"), 100) if lines else ""
    cells = _cells(lines[0], ",") if lines else []
    hint = ""
    if {"indicator", "period"} <= set(cells) or {"indicator", "geography"} <= set(cells):
        hint = " This is tracker's own CSV format: load it with `tracker ingest`."
    elif cells[:1] == ["data source"]:
        hint = " The preamble is there, but no header row follows it."
    raise FileRefused(
        f"{path}: no World Bank header in the first {HEADER_WITHIN} lines (line 1 reads "
        f"'{first}'); expected {LAYOUTS}.{hint}"
    )


def _without_footer(text: str) -> tuple[str, list[str]]:
    """The text without DataBank's footer (blank lines, 'Data from database: ...', 'Last
    Updated: ...'), and the footer's lines."""
    tail_start = max(0, len(text) - FOOTER_WITHIN)
    tail = text[tail_start:].splitlines(keepends=True)
    footer: list[str] = []
    while tail:
        bare = tail[-1].strip().strip('",;\t ')
        if bare and not re.match(r"^(Data from database|Last Updated)", bare, re.I):
            break
        footer.insert(0, tail.pop())
    cut = len(text) - sum(len(line) for line in footer)
    return text[:cut], footer


def _updated(path: Path, line: str) -> tuple[date | None, str]:
    """The release date a preamble or footer line states ('Last Updated Date,2022-04-27'),
    and a warning when it is there but cannot be read without a guess."""
    match = UPDATED.match(line.strip())
    if match is None:
        return None, ""
    text = match.group(1)
    parts = [int(p) for p in re.split(r"[/.-]", text) if p.isdigit()]
    found: date | None = None
    try:
        if len(parts) == 3 and parts[0] > 31:  # 2022-04-27
            found = date(parts[0], parts[1], parts[2])
        elif len(parts) == 3 and parts[0] > 12 >= parts[1]:  # 27/04/2022
            found = date(parts[2], parts[1], parts[0])
        elif len(parts) == 3 and parts[1] > 12 >= parts[0]:  # 04/27/2022
            found = date(parts[2], parts[0], parts[1])
    except ValueError:
        found = None
    if found is None:
        return None, (
            f"{path}: the release date '{show(text)}' can be read as day/month or as "
            "month/day (or not at all); it is not used as the source's published date"
        )
    return found, ""


@dataclass(frozen=True)
class Columns:
    """The body columns (c0, c1, ...) of a World Bank file's parts."""

    name: str | None  # country name
    country: str  # country code
    code: str  # indicator (series) code
    years: list[tuple[str, str]]  # (column, year)


def _columns(path: Path, header: list[str], line: int, body: pl.DataFrame) -> Columns:
    """Which body column holds the country name and code, the series code and each year."""
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    found: dict[str, str] = {}
    years: list[tuple[str, str]] = []
    roles = {"country name": "name", "country code": "country", "indicator code": "code",
             "series code": "code", "indicator name": "label", "series name": "label"}  # fmt: skip
    for index, name in enumerate(names):
        column = f"c{index}"
        year = YEAR.match(name)
        if name in roles and roles[name] not in found:
            found[roles[name]] = column
        elif year and (year.group(2) is None or year.group(2) == year.group(1)):
            if year.group(1) in {y for _, y in years}:
                raise FileRefused(
                    f"{path}:{line}: the year {year.group(1)} heads two columns (column "
                    f"{index + 1} and an earlier one); expected each year once."
                )
            years.append((column, year.group(1)))
        elif name == "" and index == 0:  # the API file saved without its index name
            found.setdefault("name", column)
        elif name == "" and body[column].str.strip_chars().fill_null("").eq("").all():
            continue  # the API file's trailing empty column
        else:
            shown = show(header[index].strip(), 40)
            raise FileRefused(
                f"{path}:{line}: column {index + 1} of the header is '{shown}', which is "
                "not a year; expected the columns Country Name, Country Code, Indicator Name, "
                "Indicator Code (DataBank: Series Name, Series Code), then one column per year "
                "(1960, or 2019 [YR2019]). Broken year headers cannot be read without a guess."
            )
    if not years:
        raise FileRefused(
            f"{path}:{line}: the header has no year columns; expected one column per year "
            "(1960, or 2019 [YR2019]) after the country and indicator columns."
        )
    return Columns(found.get("name"), found["country"], found["code"], years)

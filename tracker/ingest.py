"""CSV files -> one validated, normalised batch of observations for `store.write_batch`.

Layer 2: imports errors, models, units and periods; never duckdb, never cli.

The success path is vectorised. Polars reads every field as text, the columns of few
distinct values (indicator, initiative, geography, period, unit, source) as categoricals;
each distinct text is resolved once in Python to an integer code, and codes are mapped
back to rows with `gather`. Python loops over rows only to describe problems, or when
polars cannot read a file (or its fields do not add up) and Python's csv module re-reads
it to say which line is malformed.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from polars.exceptions import PanicException

from tracker.errors import IngestError
from tracker.models import Catalog
from tracker.periods import parse_period
from tracker.units import Unit, parse_scale_only, parse_unit

OBSERVATION_COLUMNS = (
    "indicator", "initiative", "geography", "period", "period_start", "period_end",
    "source", "value", "currency", "value_as_given", "unit_as_given", "note",
)  # fmt: skip
LONG_COLUMNS = ("indicator", "initiative", "geography", "period", "value", "unit", "source", "note")
CODED_COLUMNS = ("indicator", "initiative", "geography", "period", "unit", "source")
REQUIRED_COLUMNS = ("indicator", "period", "value")
NO_VALUE_CELLS = ("", "..", "na", "n/a", "-")
DEFAULT_GEOGRAPHY = "WLD"
MAX_SHOWN = 50
ADVICE = 'Fix the problems above and run `tracker ingest` again; see README "CSV format".'
PERIOD_EXPECTED = "expected a period like 2024, 2024-H1, 2024-Q3, 2024-07 or 2024-07-15"
EMPTY_FILE = f"the file is empty; expected a header line such as {','.join(LONG_COLUMNS)}"
UNIT_EXPECTED = "expected a unit such as 'USD bn', 'EUR m', 'GW', 'MW' or 'count'"
SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
THOUSANDS = r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"
SAMPLE_BYTES = 8192
# Bytes that do not occur in text: controls other than tab, newlines, form feed, backspace.
_NON_TEXT = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13)) + b"\x7f"
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in range(32)} | {10: "\\n", 13: "\\r", 9: "\\t"}


@dataclass(frozen=True)
class IngestOptions:
    """How to read the files: `--source`, `--encoding`, `--delimiter`."""

    source: str | None = None  # a source id or citation for rows whose source is empty
    encoding: str = "utf-8"  # any Python codec name; utf-8 accepts a byte-order mark
    delimiter: str | None = None  # None: ',' unless the header has no ',' but ';' or a tab


@dataclass(frozen=True)
class PreparedBatch:
    """What `prepare` hands to `store.write_batch`: rows plus file and source records."""

    rows: pl.DataFrame  # OBSERVATION_COLUMNS
    files: tuple[str, ...]  # file paths as given
    sha256s: tuple[str, ...]  # sha256 of each file's bytes
    new_sources: pl.DataFrame  # id, title, url, kind, note: citations to register
    warnings: tuple[str, ...] = ()


def prepare(
    paths: Sequence[Path],
    catalog: Catalog,
    options: IngestOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> PreparedBatch:
    """Read, validate and normalise CSV files into one batch; raises IngestError listing
    every problem (at most 50 shown, with the total).

    Used inside one transaction: `store.write_batch(conn, batch.rows, files=batch.files,
    sha256s=batch.sha256s, new_sources=batch.new_sources)`. `progress` is called with
    ("reading CSV files", files done, files in all) before each file and at the end.
    """
    run = _Run(catalog, options, [str(p) for p in paths])
    frames: list[pl.DataFrame] = []
    digests: list[str] = []
    for number, path in enumerate(paths):
        if progress:
            progress("reading CSV files", number, len(paths))
        try:
            table = _load(path, number, run, digests)
            frame = _check_rows(table, run) if table is not None else None
        except (Exception, PanicException) as error:  # never a traceback for a file
            run.problems.add(number, 0, _unexpected(error))
            frame = None
        if number in run.tables:  # only the header and line numbers are needed from here
            run.tables[number].body = run.tables[number].body.clear()
        if frame is not None:
            frames.append(frame)
    if progress:
        progress("reading CSV files", len(paths), len(paths))
    try:
        rows = _merge(frames, run)
    except (Exception, PanicException) as error:
        run.problems.add(-1, 0, _unexpected(error))
        rows = pl.DataFrame(schema=OUTPUT_SCHEMA)
    if run.problems.total:
        shown, total = run.problems.render(run)
        raise IngestError(shown, ADVICE, total)
    return PreparedBatch(
        rows=rows,
        files=tuple(run.files),
        sha256s=tuple(digests),
        new_sources=run.new_sources_frame(),
        warnings=tuple(run.warnings),
    )


def _unexpected(error: BaseException) -> str:
    """A problem for an error no check foresaw (a bug: the message asks for a report)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return (
        f"could not be read (unexpected {type(error).__name__}: {_show(first, 200)}); "
        "please report this, with the file"
    )


# --- problems ------------------------------------------------------------------------------


class _Problems:
    """Problems as found: whole messages, and cell problems as frames (rendered lazily)."""

    def __init__(self) -> None:
        self.texts: list[tuple[int, int, int, str]] = []  # (file, line, column, message)
        self.cells: list[pl.DataFrame] = []  # CELL_SCHEMA

    def add(self, file_no: int, line: int, message: str, column_no: int = -1) -> None:
        self.texts.append((file_no, line, column_no, message))

    def add_cells(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.cells.append(frame.select(pl.col(c).cast(t) for c, t in CELL_SCHEMA.items()))

    @property
    def total(self) -> int:
        return len(self.texts) + sum(frame.height for frame in self.cells)

    def render(self, run: _Run) -> tuple[list[str], int]:
        entries = list(self.texts)
        if self.cells:
            cells = pl.concat(self.cells).sort("_file", "_row", "_col").head(MAX_SHOWN)
            for cell in cells.iter_rows(named=True):
                line = run.line_of(cell["_file"], cell["_row"])
                entries.append((cell["_file"], line, cell["_col"], _describe(cell, run)))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        shown = []
        for file_no, line, _, message in entries[:MAX_SHOWN]:
            where = "" if file_no < 0 else run.files[file_no]
            where += f":{line}" if line > 0 and file_no >= 0 else ""
            shown.append(f"{where}: {message}" if where else message)
        return shown, self.total


CELL_SCHEMA: dict[str, type[pl.DataType]] = {
    "_file": pl.Int64, "_row": pl.Int64, "_col": pl.Int64, "column": pl.String,
    "found": pl.String, "kind": pl.String, "detail": pl.String,
}  # fmt: skip


def _describe(cell: dict[str, object], run: _Run) -> str:
    column, found, kind, detail = (
        str(cell[k] or "") for k in ("column", "found", "kind", "detail")
    )
    if kind == "conflict":
        column = run.column_name(int(str(cell["_file"])), int(str(cell["_col"])))
    if kind == "empty":
        return f"column '{column}': found nothing, expected {detail}"
    if kind == "unknown":
        hint = run.suggestion(detail, found.strip())
        return f"column '{column}': found '{_show(found)}', unknown {detail}{hint}"
    if kind == "conflict":
        file_no, row, given, key = detail.split("\t", 3)
        other = f"{run.files[int(file_no)]}:{run.line_of(int(file_no), int(row))}"
        return (
            f"column '{column}': found '{_show(found)}', but the same point ({key}) is also "
            f"given as {given} at {other}; give each point once"
        )
    return f"column '{column}': found '{_show(found)}', {detail}"


def _show(text: str, limit: int = 80) -> str:
    """Text made safe for a one-line message: controls escaped, long text cut."""
    shown = text.translate(_CONTROL_ESCAPES)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _names(names: Sequence[str], limit: int = 20) -> str:
    listed = ", ".join(_show(n, 40) for n in names[:limit])
    return listed + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# --- one run of prepare: options, catalog lookups, codes shared by all files ---------------


class _Codes:
    """Distinct texts of one column resolved to canonical ids with integer codes.

    Codes are shared by all files of a run, so a key built from codes is comparable across
    files. `resolve` returns the canonical id, or None when the text is not acceptable.
    """

    def __init__(self, resolve: Callable[[str], str | None]) -> None:
        self.resolve = resolve
        self.ids: list[str] = []
        self._code_of_id: dict[str, int] = {}
        self._code_of_text: dict[str, int | None] = {}

    def code(self, canonical: str) -> int:
        if canonical not in self._code_of_id:
            self._code_of_id[canonical] = len(self.ids)
            self.ids.append(canonical)
        return self._code_of_id[canonical]

    def resolve_text(self, text: str) -> int | None:
        """The code of a text as written (None when blank or not acceptable)."""
        if text not in self._code_of_text:
            canonical = self.resolve(text.strip()) if text.strip() else None
            self._code_of_text[text] = None if canonical is None else self.code(canonical)
        return self._code_of_text[text]

    def expressions(self, frame: pl.DataFrame, name: str, alias: str) -> list[pl.Expr]:
        """For categorical column `name`: its codes as `alias` (null when unknown or blank)
        and whether it is blank as `alias`_blank; each category is resolved once."""
        texts = _categories(frame, name)
        blank = pl.col(name).is_null()
        blanks = [not text.strip() for text in texts]
        if any(blanks):
            blank = blank | _per_category(frame, name, blanks, pl.Boolean())
        codes = [self.resolve_text(text) for text in texts]
        return [
            _per_category(frame, name, codes, pl.UInt32()).alias(alias),
            blank.alias(f"{alias}_blank"),
        ]

    def lookup(self, values: Sequence[object], dtype: pl.DataType, code: str) -> pl.Expr:
        """An expression picking `values[code]` for the codes in column `code`."""
        return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col(code))


def _categories(frame: pl.DataFrame, name: str) -> list[str]:
    """Every category of a categorical column, in the order of its physical codes."""
    dtype = frame.schema[name]
    assert isinstance(dtype, pl.Categorical)
    return [str(text) for text in dtype.categories.to_series().to_list()]


def _per_category(
    frame: pl.DataFrame, name: str, values: Sequence[object], dtype: pl.DataType
) -> pl.Expr:
    """`values[category]` for each row of categorical column `name`."""
    return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col(name).to_physical())


def _as_categorical(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """`frame` with the named text columns as categoricals, each with its own categories."""
    return frame.with_columns(
        pl.col(n).cast(pl.Categorical(pl.Categories.random())) for n in names if n in frame
    )


class _Run:
    """State of one `prepare` call: options, lookups, codes, problems, tables read."""

    def __init__(self, catalog: Catalog, options: IngestOptions, files: list[str]) -> None:
        self.catalog = catalog
        self.files = files
        self.problems = _Problems()
        self.warnings: list[str] = []
        self.tables: dict[int, _Table] = {}
        self.new_sources: dict[str, tuple[str, str | None]] = {}  # id -> (title, url)
        self.source_file: dict[str, str] = {}  # new source id -> first file using it
        self.indicator_units = {
            i.id: Unit(i.dimension, i.base_unit, i.multiplier) for i in catalog.indicators.values()
        }
        self.initiatives_by_lower = {i.lower(): i for i in catalog.initiatives}
        self.indicators_by_lower = {i.lower(): i for i in catalog.indicators}
        self.indicator_codes = _Codes(lambda t: self.indicators_by_lower.get(t.lower()))
        self.initiative_codes = _Codes(lambda t: self.initiatives_by_lower.get(t.lower()))
        self.geography_codes = _Codes(lambda t: catalog.geographies.get(t.lower()))
        self.period_codes = _Codes(_canonical_period)
        self.unit_codes = _Codes(_canonical_unit)
        self.source_codes = _Codes(self._resolve_source)
        self.dimensions: dict[str, int] = {}
        self.currencies: list[str] = []
        self._currency_codes: dict[str, int] = {}
        self.option_problems = self._check_options(options)

    def dimension_code(self, dimension: str) -> int:
        return self.dimensions.setdefault(dimension, len(self.dimensions))

    def currency_code(self, currency: str) -> int:
        if currency not in self._currency_codes:
            self._currency_codes[currency] = len(self.currencies)
            self.currencies.append(currency)
        return self._currency_codes[currency]

    def _check_options(self, options: IngestOptions) -> bool:
        before = self.problems.total
        self.encoding = "utf-8"
        try:
            self.encoding = codecs.lookup(options.encoding).name
            b"".decode(self.encoding)  # a text encoding, not a transform such as rot13
        except LookupError:
            self.problems.add(
                -1, 0, f"--encoding: found '{_show(options.encoding)}', expected a Python "
                "codec name such as utf-8, latin-1 or cp1252",
            )  # fmt: skip
        self.delimiter = options.delimiter
        if self.delimiter in ("\\t", "tab", "TAB"):
            self.delimiter = "\t"
        if self.delimiter is not None and (
            len(self.delimiter) != 1 or not self.delimiter.isascii() or self.delimiter in '"\r\n'
        ):
            self.problems.add(
                -1, 0, f"--delimiter: found '{_show(self.delimiter)}', expected one character "
                "such as ',' ';' '|' or a tab (\\t)",
            )  # fmt: skip
        self.default_source: int | None = None
        if options.source is not None and options.source.strip():
            canonical = self._resolve_source(options.source.strip())
            if canonical is None:
                hint = self.suggestion("source", options.source.strip())
                self.problems.add(
                    -1, 0, f"--source: found '{_show(options.source)}', unknown source{hint}"
                )
            else:
                self.default_source = self.source_codes.code(canonical)
        return self.problems.total > before

    def _resolve_source(self, text: str) -> str | None:
        if text in self.catalog.sources:
            return text
        if text in self.catalog.source_titles:
            return self.catalog.source_titles[text]
        if SOURCE_ID.match(text):
            return None
        new_id = "src-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        url = text if re.match(r"^https?://", text, re.IGNORECASE) else None
        self.new_sources[new_id] = (text, url)
        return new_id

    def suggestion(self, what: str, found: str) -> str:
        """'; did you mean ...?' with the closest known name, else what is expected."""
        catalog = self.catalog
        if what == "geography":  # names are matched lower-cased; suggest the id
            names = list(catalog.geographies)
            close = difflib.get_close_matches(found.lower(), names, n=1, cutoff=0.75)
            if close:
                return f"; did you mean '{catalog.geographies[close[0]]}'?"
        else:
            known = {
                "indicator": catalog.indicators,
                "initiative": catalog.initiatives,
                "source": catalog.sources,
            }.get(what, ())
            close = difflib.get_close_matches(found, sorted(known), n=1)
            if close:
                return f"; did you mean '{close[0]}'?"
        return {
            "indicator": "; run `tracker indicators` to list them",
            "initiative": f"; expected one of {', '.join(sorted(self.catalog.initiatives))}",
            "geography": "; expected an ISO alpha-3 code, a region id or a name from "
            "data/reference/geographies.csv",
            "source": "; a source id must be in data/reference/sources.csv (free text with "
            "spaces is registered as a new source)",
        }.get(what, "")

    def line_of(self, file_no: int, row: int) -> int:
        return self.tables[file_no].line_of(row)

    def column_name(self, file_no: int, index: int) -> str:
        name = self.tables[file_no].header[index].strip()
        return name.lower() if name.lower() in LONG_COLUMNS else name

    def new_sources_frame(self) -> pl.DataFrame:
        used = [i for i in self.new_sources if i in self.source_file]
        return pl.DataFrame(
            {
                "id": used,
                "title": [self.new_sources[i][0] for i in used],
                "url": [self.new_sources[i][1] for i in used],
                "kind": ["unspecified"] * len(used),
                "note": [f"registered by tracker ingest from {self.source_file[i]}" for i in used],
            },
            schema={c: pl.String for c in ("id", "title", "url", "kind", "note")},
        )


def _canonical_period(text: str) -> str | None:
    period = parse_period(text)
    return period.text if period else None


def _canonical_unit(text: str) -> str | None:
    """'dimension|base|scale' for a full unit, '|scale' for a bare scale word."""
    unit = parse_unit(text)
    if unit is not None:
        return f"{unit.dimension}|{unit.base}|{unit.scale!r}"
    scale = parse_scale_only(text)
    return None if scale is None else f"||{scale!r}"


# --- reading a file into a table of text ---------------------------------------------------


@dataclass
class _Table:
    """One file's fields as text: header and body (columns c0..cN, `_row`)."""

    file_no: int
    header: list[str]
    header_line: int
    body: pl.DataFrame
    lines: pl.Series | None = None  # line of each body row; None: one line each, in order

    def line_of(self, row: int) -> int:
        return self.header_line + 1 + row if self.lines is None else int(self.lines[row])


def _load(path: Path, file_no: int, run: _Run, digests: list[str]) -> _Table | None:
    """Read one file's bytes, note their sha256, and parse them into a table of text."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        digests.append(hashlib.sha256(b"").hexdigest())
        run.problems.add(file_no, 0, f"cannot be read ({error.strerror or error})")
        return None
    with ThreadPoolExecutor(max_workers=1) as pool:  # hash while polars parses
        digest = pool.submit(lambda: hashlib.sha256(raw).hexdigest())
        try:
            return None if run.option_problems else _parse(raw, file_no, run)
        finally:
            digests.append(digest.result())


def _parse(raw: bytes, file_no: int, run: _Run) -> _Table | None:
    """A file's bytes as a table of text (or None, problems added)."""
    data = _as_utf8(raw, file_no, run)
    if data is None:
        return None
    if b"\n" not in data and b"\r" in data:  # classic Mac line ends
        data = data.replace(b"\r", b"\n")
    if data.endswith((b"\n\n", b"\n\r\n")):
        data = data.rstrip(b"\r\n") + b"\n"
    before = run.problems.total
    end = data.find(b"\n")
    delimiter = run.delimiter or _sniff_delimiter(data if end < 0 else data[:end])
    table = _read_with_polars(data, delimiter, file_no, run)
    if table is None:
        table = _read_with_csv_module(data.decode("utf-8"), delimiter, file_no, run)
    if table is None:
        return None
    run.tables[file_no] = table
    if table.body.height == 0:
        if run.problems.total == before:  # not because every row was refused
            run.problems.add(file_no, 0, "the file has a header but no data rows")
        return None
    return table


def _as_utf8(data: bytes, file_no: int, run: _Run) -> bytes | None:
    """The file's text as UTF-8 bytes without a byte-order mark, or None (problem added)."""
    blank = b" \t\r\n\xef\xbb\xbf"
    if not data[:65536].strip(blank) and not data.strip(blank):
        run.problems.add(file_no, 0, EMPTY_FILE)
        return None
    if run.encoding in ("utf-8", "utf-8-sig"):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            run.problems.add(
                file_no, 0, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                "run again with --encoding utf-16",
            )  # fmt: skip
            return None
        if _looks_binary(data[:SAMPLE_BYTES]):
            run.problems.add(file_no, 0, "this looks like a binary file, not CSV")
            return None
        data = data.removeprefix(b"\xef\xbb\xbf")
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as error:
                line, column = _position(data, error.start)
                run.problems.add(
                    file_no, line, "the file is not valid UTF-8 (byte "
                    f"0x{data[error.start]:02X} at column {column}); if it is Latin-1 or "
                    "Windows-1252, run again with --encoding latin-1 (or cp1252)",
                )  # fmt: skip
                return None
        return data
    try:
        text = data.decode(run.encoding)
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        run.problems.add(
            file_no, line, f"the file is not valid {run.encoding} (byte "
            f"0x{data[error.start]:02X} at column {column}); check --encoding",
        )  # fmt: skip
        return None
    text = text.removeprefix("\ufeff")
    if _looks_binary(text[:SAMPLE_BYTES].encode("utf-8", "replace")):
        run.problems.add(file_no, 0, "this looks like a binary file, not CSV")
        return None
    return text.encode("utf-8")


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes, or more than 10% control bytes, in the sample."""
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _NON_TEXT))
    return controls > 0.1 * len(sample)


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """(line, column) of a byte offset, as an editor counts them (1-based)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _sniff_delimiter(first_line: bytes) -> str:
    if b"," in first_line:
        return ","
    semicolons, tabs = first_line.count(b";"), first_line.count(b"\t")
    if semicolons or tabs:
        return ";" if semicolons >= tabs else "\t"
    return ","


def _coded_positions(header: Sequence[str | None]) -> list[int]:
    """Positions of the header's columns of few distinct values (read as categoricals)."""
    return [i for i, n in enumerate(header) if (n or "").strip().lower() in CODED_COLUMNS]


def _with_coded_types(body: pl.DataFrame, header: Sequence[str]) -> pl.DataFrame:
    """The body with coded columns categorical and every other column text."""
    coded = {f"c{i}" for i in _coded_positions(header)}
    wrong = [
        c for c, t in body.schema.items()
        if c != "_row" and (c in coded) != isinstance(t, pl.Categorical)
    ]  # fmt: skip
    body = body.with_columns(pl.col(c).cast(pl.String) for c in wrong if c not in coded)
    return _as_categorical(body, [c for c in wrong if c in coded])


def _read_with_polars(data: bytes, delimiter: str, file_no: int, run: _Run) -> _Table | None:
    """The fast reader; None when polars refuses the file (the csv module takes over)."""
    head = data[: data.find(b"\n") + 1 or len(data)].decode("utf-8", "replace")
    first = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), [])
    coded = _coded_positions(first)
    types: list[pl.DataType] = [
        pl.Categorical(pl.Categories.random()) if i in coded else pl.String()
        for i in range(len(first))
    ]

    def read(types: list[pl.DataType] | None) -> pl.DataFrame:
        return pl.read_csv(
            data, has_header=False, infer_schema=False, separator=delimiter, schema_overrides=types
        )

    try:
        frame = read(types)
    except (Exception, PanicException):
        try:
            frame = read(None)
        except (Exception, PanicException):
            return None
    frame = frame.rename({name: f"c{i}" for i, name in enumerate(frame.columns)})
    header = ["" if h is None else str(h) for h in frame.row(0)]
    delimiters, newlines = _counts_inside_fields(frame, data, delimiter)
    if data.count(delimiter.encode()) - delimiters != frame.height * (frame.width - 1):
        # Polars raises on longer rows but fills shorter ones (and blank lines) with nulls:
        # find them line by line.
        records = _records(data, delimiter)
        if records is None or records.height != frame.height:
            return None
        width = frame.width
        ragged = records.filter(~pl.col("blank") & (pl.col("fields") != width))
        for line, fields in ragged.select("first_line", "fields").rows():
            message = f"found {fields} fields, expected {width} (as in the header)"
            run.problems.add(file_no, line, message)
        keep = ~records["blank"] & (records["fields"] == width)
        frame = frame.filter(keep)
        first_lines = records.filter(keep)["first_line"].slice(1)
        body = _with_coded_types(frame.slice(1).with_row_index("_row"), header)
        return _Table(file_no, header, 1, body, first_lines)
    lines: pl.Series | None = None
    if newlines:  # a record spans lines: count them
        breaks = frame.select(
            pl.sum_horizontal(
                pl.all().cast(pl.String).str.count_matches("\n", literal=True)
            ).fill_null(0)
        ).to_series()
        starts = pl.int_range(1, frame.height + 1, eager=True) + breaks.cum_sum() - breaks
        lines = starts.slice(1)
    body = _with_coded_types(frame.slice(1).with_row_index("_row"), header)
    return _Table(file_no, header, 1, body, lines)


def _records(data: bytes, delimiter: str) -> pl.DataFrame | None:
    """Each record's first line, field count and blankness, vectorised over lines: a line
    starts a record unless a quote is open at its start; delimiters inside quotes do not
    count. None when polars cannot split the lines."""
    try:
        lines = pl.read_lines(data)
    except (Exception, PanicException):
        return None
    line = pl.col("line")
    open_after = line.str.count_matches('"', literal=True).cum_sum() % 2 == 1
    open_before = open_after.shift(1, fill_value=False)
    outside = pl.when(open_before).then(pl.lit('"') + line).otherwise(line)
    outside = outside.str.replace_all(r'"[^"]*"', "").str.replace(r'"[^"]*$', "")
    return (
        lines.select(
            pl.int_range(1, pl.len() + 1).alias("line"),
            (~open_before).cum_sum().alias("record"),
            outside.str.count_matches(delimiter, literal=True).alias("delimiters"),
            (line.str.strip_chars() == "").alias("blank"),
        )
        .group_by("record", maintain_order=True)
        .agg(
            pl.col("line").first().alias("first_line"),
            (pl.col("delimiters").sum() + 1).alias("fields"),
            ((pl.len() == 1) & pl.col("blank").first()).alias("blank"),
        )
        .drop("record")
    )


def _counts_inside_fields(frame: pl.DataFrame, data: bytes, delimiter: str) -> tuple[int, int]:
    """(delimiters, newlines) inside fields, which only quoted fields can hold. With the
    file's delimiter count this gives each row's field count: (fields - 1) per row."""
    if b'"' not in data:
        return 0, 0
    counts = []
    for name, dtype in frame.schema.items():
        for text in (delimiter, "\n"):
            count = pl.lit(0, pl.UInt32)
            if not isinstance(dtype, pl.Categorical):
                count = pl.col(name).str.count_matches(text, literal=True)
            elif any(found := [category.count(text) for category in _categories(frame, name)]):
                count = _per_category(frame, name, found, pl.UInt32())
            counts.append(count.sum().alias(f"{name}{text!r}"))
    totals = [int(n or 0) for n in frame.select(counts).row(0)]
    return sum(totals[0::2]), sum(totals[1::2])


def _read_with_csv_module(text: str, delimiter: str, file_no: int, run: _Run) -> _Table | None:
    """The careful reader, for files polars cannot read: says which lines are malformed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 1
    records: list[list[str]] = []
    lines: list[int] = []
    previous = 0
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header, header_line = record, start
            elif len(record) != len(header):
                run.problems.add(
                    file_no, start,
                    f"found {len(record)} fields, expected {len(header)} (as in the header)",
                )  # fmt: skip
            else:
                records.append(record)
                lines.append(start)
    except csv.Error as error:
        run.problems.add(file_no, previous + 1, _csv_error_message(str(error)))
        return None
    if header is None:
        run.problems.add(file_no, 0, EMPTY_FILE)
        return None
    columns = {f"c{i}": [record[i] or None for record in records] for i in range(len(header))}
    body = pl.DataFrame(columns, schema={c: pl.String for c in columns}).with_row_index("_row")
    body = _with_coded_types(body, header)
    return _Table(file_no, header, header_line, body, lines=pl.Series(lines))


def _csv_error_message(error: str) -> str:
    if "unexpected end of data" in error:
        return "a quoted field that starts here is never closed; check for a missing '\"'"
    if "field larger than field limit" in error:
        return "a field is longer than 131072 characters; check for a missing or extra '\"'"
    if "NUL" in error:
        return "the line contains a NUL byte; this looks like a binary file, not CSV"
    return (
        f"malformed CSV ({error}); a quoted field must end with a quote followed by the "
        'delimiter or the line end, with quotes inside it doubled ("")'
    )


# --- header: long or wide, known columns ---------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where each known column is (header index), and for wide files the period columns."""

    columns: dict[str, int]
    periods: dict[int, str]  # wide format: header index -> canonical period
    wide: bool


def _layout(table: _Table, run: _Run) -> _Layout | None:
    file_no, line = table.file_no, table.header_line
    names = [name.strip() for name in table.header]
    before = run.problems.total
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            run.problems.add(
                file_no, line, f"column {index + 1} of the header has no name; every column "
                "needs one (delete the column if it is empty)", index,
            )  # fmt: skip
        elif name.lower() in seen:
            run.problems.add(
                file_no, line, f"column '{_show(name)}' appears twice in the header (columns "
                f"{seen[name.lower()] + 1} and {index + 1}); keep one", index,
            )  # fmt: skip
        seen.setdefault(name.lower(), index)
    columns = {n.lower(): i for i, n in enumerate(names) if n.lower() in LONG_COLUMNS}
    columns = {n: seen[n] for n in columns}
    periods: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(names):
        if name and name.lower() not in LONG_COLUMNS:
            canonical = _canonical_period(name)
            if canonical is None:
                unknown.append(name)
            else:
                periods[index] = canonical
    wide = bool(periods) and "period" not in columns and "value" not in columns
    if periods and not wide:
        listed = ", ".join(f"'{_show(names[i])}'" for i in list(periods)[:5])
        run.problems.add(
            file_no, line, f"column(s) {listed} look like periods (wide format), but the header "
            "also has a 'period' or 'value' column; a file is either long (period and value "
            "columns) or wide (one column per period, no period or value column)",
        )  # fmt: skip
    if unknown:
        described = []
        for name in unknown[:10]:
            close = difflib.get_close_matches(name.lower(), LONG_COLUMNS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            described.append(f"'{_show(name, 40)}'{hint}")
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        run.problems.add(
            file_no, line, f"unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(described)}{more}; accepted columns: {', '.join(LONG_COLUMNS)}, or "
            "instead of period and value one column per period (2019, 2024-H1, ...)",
        )  # fmt: skip
    for required in ("indicator",) if wide else REQUIRED_COLUMNS:
        if required not in columns:
            run.problems.add(
                file_no, line, f"missing required column '{required}' (columns found: "
                f"{_names(names)})",
            )  # fmt: skip
    if "source" not in columns and run.default_source is None:
        run.problems.add(
            file_no, line, "no 'source' column and no --source given; add a source column "
            'or run again with --source SOURCE_ID (or --source "citation")',
        )  # fmt: skip
    blocking = run.problems.total - before - (1 if unknown else 0)
    return None if blocking else _Layout(columns, periods, wide)


# --- rows: resolve, convert, check ---------------------------------------------------------


def _values_frame(table: _Table, layout: _Layout, run: _Run) -> pl.DataFrame:
    """One row per value: `_row`, `_col` (header index of the value) and the known columns;
    a wide file is unpivoted, leaving out cells that say there is no value."""
    known = [pl.col(f"c{i}").alias(name) for name, i in layout.columns.items()]
    if not layout.wide:
        value_column = pl.lit(layout.columns["value"], pl.Int64).alias("_col")
        return table.body.select("_row", value_column, *known)
    cells = [pl.col(f"c{i}").alias(f"p{i}") for i in layout.periods]
    frame = table.body.select("_row", *known, *cells)
    index = ["_row", *layout.columns]
    frame = frame.unpivot(on=[f"p{i}" for i in layout.periods], index=index, value_name="value")
    no_value = pl.col("value").str.strip_chars().str.to_lowercase().is_in(NO_VALUE_CELLS)
    frame = frame.filter(pl.col("value").is_not_null() & ~no_value)
    codes = {f"p{i}": run.period_codes.code(p) for i, p in layout.periods.items()}
    return frame.with_columns(
        pl.col("variable").str.slice(1).cast(pl.Int64).alias("_col"),
        pl.col("variable").replace_strict(codes, return_dtype=pl.UInt32).alias("_per"),
        pl.lit(False).alias("_per_blank"),
    ).drop("variable")


def _check_rows(table: _Table, run: _Run) -> pl.DataFrame | None:
    """Validated rows of one file (codes, converted values), or None after problems."""
    layout = _layout(table, run)
    if layout is None:
        return None
    frame = _resolve(_values_frame(table, layout, run), layout, run)
    if frame.height == 0:
        run.warnings.append(f"{run.files[table.file_no]}: no values found; nothing to load")
        return None
    _report_cell_problems(frame, table, layout, run)
    frame = frame.select(
        pl.lit(table.file_no, dtype=pl.Int64).alias("_file"),
        pl.col("_row").cast(pl.Int64),
        pl.col("_col").cast(pl.Int64),
        "_ind", "_ini", "_geo", "_per", "_src",
        pl.col("_value").alias("value"),
        pl.lit(pl.Series(run.currencies, dtype=pl.String)).gather(pl.col("_cur")).alias("currency"),
        pl.col("_value_text").alias("value_as_given"),
        pl.col("_unit_text").alias("unit_as_given"),
        pl.col("_note").alias("note"),
        pl.all_horizontal(
            pl.col(c).is_not_null() for c in ("_ind", "_ini", "_geo", "_per", "_src", "_value")
        ).alias("_ok"),
    )  # fmt: skip
    if not frame["_ok"].all():
        frame = frame.filter("_ok")
    for code in frame["_src"].unique().to_list():
        source_id = run.source_codes.ids[code]
        if source_id in run.new_sources:
            run.source_file.setdefault(source_id, run.files[table.file_no])
    return frame.drop("_ok")


def _blank(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String)
    return text.is_null() | (text.str.strip_chars() == "")


def _resolve(frame: pl.DataFrame, layout: _Layout, run: _Run) -> pl.DataFrame:
    """Add codes for the id columns (blank ones defaulted), the value as a number in the
    indicator's unit and multiplier, its currency, and the texts as given."""
    catalog = run.catalog
    resolvers = {
        "indicator": (run.indicator_codes, "_ind"), "initiative": (run.initiative_codes, "_ini"),
        "geography": (run.geography_codes, "_geo"), "period": (run.period_codes, "_per"),
        "unit": (run.unit_codes, "_unit"), "source": (run.source_codes, "_src"),
    }  # fmt: skip
    note = pl.col("note").str.strip_chars() if "note" in frame.columns else pl.lit(None)
    columns: list[pl.Expr] = [
        pl.col("value").str.strip_chars().alias("_value_text"),
        pl.when(note != "").then(note).cast(pl.String).alias("_note"),
    ]
    for name, (codes, alias) in resolvers.items():
        if name in frame.columns:
            columns += codes.expressions(frame, name, alias)
        elif alias not in frame.columns:
            columns += [pl.lit(None, pl.UInt32).alias(alias), pl.lit(True).alias(f"{alias}_blank")]
    frame = frame.with_columns(columns)
    if not layout.wide and frame["_ind_blank"].any():  # rows with every field blank: skipped
        every = pl.all_horizontal(_blank(name) for name in layout.columns)
        skipped = frame.filter(pl.col("_ind_blank")).filter(every)["_row"]
        frame = frame.filter(~pl.col("_row").is_in(skipped.implode()))

    indicators = [catalog.indicators[i] for i in run.indicator_codes.ids]
    units = [run.indicator_units[i] for i in run.indicator_codes.ids]
    facts = [_unit_facts(u) for u in run.unit_codes.ids]
    by_indicator, by_unit = run.indicator_codes.lookup, run.unit_codes.lookup
    defaults = [run.initiative_codes.code(i.default_initiative) if i.default_initiative else None
                for i in indicators]  # fmt: skip
    world = run.geography_codes.code(catalog.geographies.get("wld", DEFAULT_GEOGRAPHY))
    filled = {
        "_ini": by_indicator(defaults, pl.UInt32(), "_ind"),
        "_geo": pl.lit(world, pl.UInt32),
        "_src": pl.lit(run.default_source, pl.UInt32),
    }
    money = run.dimension_code("money")
    frame = frame.with_columns(
        *(
            pl.when(pl.col(f"{alias}_blank")).then(default).otherwise(alias).alias(alias)
            for alias, default in filled.items()
            if frame[f"{alias}_blank"].any()
        ),
        by_indicator([run.dimension_code(u.dimension) for u in units], pl.UInt8(), "_ind")
        .alias("_dim"),
        by_indicator([u.scale for u in units], pl.Float64(), "_ind").alias("_mult"),
        by_indicator([run.currency_code(u.base) for u in units], pl.UInt16(), "_ind")
        .alias("_icur"),
        by_unit([run.dimension_code(f[0]) if f[0] else None for f in facts], pl.UInt8(), "_unit")
        .alias("_udim"),
        by_unit([f[2] for f in facts], pl.Float64(), "_unit").alias("_uscale"),
        by_unit([run.currency_code(f[1]) if f[1] else None for f in facts], pl.UInt16(), "_unit")
        .alias("_ucur"),
        by_unit([f[1] in catalog.currencies for f in facts], pl.Boolean(), "_unit").alias("_fx"),
        _parse_numbers(frame["_value_text"]).alias("_number"),
    )  # fmt: skip

    number, dimension = pl.col("_number"), pl.col("_dim")
    unit_ok = (
        (pl.col("_unit_blank") | pl.col("_unit").is_not_null())
        & (pl.col("_udim").is_null() | (pl.col("_udim") == dimension))
        & ((pl.col("_udim") != money) | pl.col("_fx")).fill_null(True)
    )
    value = number
    if not frame["_uscale"].is_null().all():  # some unit given: scale to the multiplier
        value = number * pl.coalesce(pl.col("_uscale"), pl.col("_mult")) / pl.col("_mult")
    labels = by_indicator([u.label for u in units], pl.String(), "_ind")
    unit_text = labels
    if "unit" in frame.columns:
        texts = [t.strip() for t in _categories(frame, "unit")]
        unit_text = _per_category(frame, "unit", texts, pl.String())
        if frame["_unit_blank"].any():
            unit_text = pl.when(pl.col("_unit_blank")).then(labels).otherwise(unit_text)
    return frame.with_columns(
        pl.when(number.is_finite() & unit_ok & dimension.is_not_null()).then(value).alias("_value"),
        pl.when(dimension == money).then(pl.coalesce("_ucur", "_icur")).alias("_cur"),
        unit_text.alias("_unit_text"),
    )


def _unit_facts(canonical: str) -> tuple[str | None, str | None, float]:
    """(dimension, base, scale) of a unit code's canonical text; a bare scale word has
    neither dimension nor base."""
    dimension, base, scale = canonical.split("|")
    return dimension or None, base or None, float(scale)


def _parse_numbers(text: pl.Series) -> pl.Series:
    """Numbers as written ('121.8', '-3', '1e3', '1,234.5'); null when not a number."""
    if text.str.contains(",", literal=True).any():
        grouped = text.str.contains(THOUSANDS)
        text = text.zip_with(~grouped, text.str.replace_all(",", "", literal=True))
    return text.cast(pl.Float64, strict=False)


def _report_cell_problems(frame: pl.DataFrame, table: _Table, layout: _Layout, run: _Run) -> None:
    """Every problem in the rows of one file, as frames of cells (see _Problems)."""
    units = [run.indicator_units[i] for i in run.indicator_codes.ids]
    by_indicator = run.indicator_codes.lookup
    headers = {i: h.strip() for i, h in enumerate(table.header)}

    def add(mask: pl.Expr, column: str, kind: pl.Expr | str, detail: pl.Expr | str) -> None:
        bad = frame.filter(mask)
        if not bad.height:
            return
        if layout.wide and column != "value":  # once per row, not once per period cell
            bad = bad.unique("_row", keep="first", maintain_order=True)
        found: pl.Expr = pl.lit(None, pl.String)
        if column == "value":  # in a wide file, the period column of the cell
            name = pl.col("_col").replace_strict(headers, default="value", return_dtype=pl.String)
            index, found = pl.col("_col"), pl.col("_value_text")
        else:
            name, index = pl.lit(column), pl.lit(layout.columns.get(column, -1))
            if column in bad.columns:
                found = pl.col(column).cast(pl.String).str.strip_chars()
        run.problems.add_cells(
            bad.select(
                pl.lit(table.file_no).alias("_file"),
                "_row",
                index.alias("_col"),
                name.alias("column"),
                found.alias("found"),
                (kind if isinstance(kind, pl.Expr) else pl.lit(kind)).alias("kind"),
                (detail if isinstance(detail, pl.Expr) else pl.lit(detail)).alias("detail"),
            )
        )

    def if_blank(blank: str, empty: str, otherwise: str, detail: str) -> tuple[pl.Expr, pl.Expr]:
        is_blank = pl.col(blank)
        return (
            pl.when(is_blank).then(pl.lit("empty")).otherwise(pl.lit(otherwise)),
            pl.when(is_blank).then(pl.lit(empty)).otherwise(pl.lit(detail)),
        )

    known = pl.col("_ind").is_not_null()
    add(~known, "indicator", *if_blank("_ind_blank", "an indicator id", "unknown", "indicator"))
    initiatives = ", ".join(sorted(run.catalog.initiatives))
    no_default = pl.format(
        "one of {} (indicator '{}' has no default initiative)",
        pl.lit(initiatives),
        by_indicator(run.indicator_codes.ids, pl.String(), "_ind"),
    )
    add(
        known & pl.col("_ini").is_null(),
        "initiative",
        pl.when(pl.col("_ini_blank")).then(pl.lit("empty")).otherwise(pl.lit("unknown")),
        pl.when(pl.col("_ini_blank")).then(no_default).otherwise(pl.lit("initiative")),
    )
    add(pl.col("_geo").is_null(), "geography", "unknown", "geography")
    period = PERIOD_EXPECTED.removeprefix("expected ")
    add(
        pl.col("_per").is_null(), "period", *if_blank("_per_blank", period, "text", PERIOD_EXPECTED)
    )
    value_blank = pl.col("_value_text").is_null() | (pl.col("_value_text") == "")
    add(value_blank, "value", "empty", "a number (leave out rows without a value)")
    add(~value_blank & pl.col("_number").is_null(), "value", "text", "expected a number")
    infinite = pl.col("_number").is_not_null() & ~pl.col("_number").is_finite()
    add(infinite, "value", "text", "expected a finite number")
    add(~pl.col("_unit_blank") & pl.col("_unit").is_null(), "unit", "text", UNIT_EXPECTED)
    mismatch = pl.col("_udim").is_not_null() & (pl.col("_udim") != pl.col("_dim"))
    dimension_names = by_indicator([u.dimension for u in units], pl.String(), "_ind")
    labels = by_indicator([u.label for u in units], pl.String(), "_ind")
    detail = pl.format("expected a {} unit like the indicator's '{}'", dimension_names, labels)
    add(known & mismatch, "unit", "text", detail)
    no_rate = pl.format(
        "no exchange rate for {} in fx_rates; add its rates to data/reference/fx_rates.csv "
        "or give the value in USD",
        pl.lit(pl.Series(run.currencies, dtype=pl.String)).gather(pl.col("_ucur")),
    )
    money = run.dimension_code("money")
    add(known & ~mismatch & (pl.col("_udim") == money) & ~pl.col("_fx"), "unit", "text", no_rate)
    source = "a source id from data/reference/sources.csv or a citation (or give --source)"
    add(pl.col("_src").is_null(), "source", *if_blank("_src_blank", source, "unknown", "source"))


# --- all files together: duplicates, canonical text ----------------------------------------


def _merge(frames: list[pl.DataFrame], run: _Run) -> pl.DataFrame:
    """One frame of OBSERVATION_COLUMNS; a point given twice is kept once, or refused when
    the two values differ."""
    if not frames:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    rows = pl.concat(frames)
    codes = {
        "_ind": ("indicator", run.indicator_codes), "_ini": ("initiative", run.initiative_codes),
        "_geo": ("geography", run.geography_codes), "_per": ("period", run.period_codes),
        "_src": ("source", run.source_codes),
    }  # fmt: skip
    sizes = [max(len(table.ids), 1) for _, table in codes.values()]
    if math.prod(sizes) < 2**63:  # the key as one integer
        key = pl.lit(0, pl.UInt64)
        for alias, size in zip(codes, sizes, strict=True):
            key = key * size + pl.col(alias).cast(pl.UInt64)
    else:
        key = pl.struct(*codes)
    periods = [parse_period(text) for text in run.period_codes.ids]
    rows = rows.with_columns(
        key.alias("_key"),
        *(table.lookup(table.ids, pl.String(), alias).alias(name)
          for alias, (name, table) in codes.items()),
        run.period_codes.lookup([p.start if p else None for p in periods], pl.Date(), "_per")
        .alias("period_start"),
        run.period_codes.lookup([p.end if p else None for p in periods], pl.Date(), "_per")
        .alias("period_end"),
    )  # fmt: skip
    if rows["_key"].n_unique() < rows.height:
        rows = _drop_repeats(rows, rows["_key"].is_duplicated(), run)
    return rows.select(OUTPUT_SCHEMA.keys())


OUTPUT_SCHEMA: dict[str, type[pl.DataType]] = {
    "indicator": pl.String, "initiative": pl.String, "geography": pl.String,
    "period": pl.String, "period_start": pl.Date, "period_end": pl.Date, "source": pl.String,
    "value": pl.Float64, "currency": pl.String, "value_as_given": pl.String,
    "unit_as_given": pl.String, "note": pl.String,
}  # fmt: skip


def _drop_repeats(rows: pl.DataFrame, duplicated: pl.Series, run: _Run) -> pl.DataFrame:
    """Keep the first of each repeated point; refuse repeats whose value differs."""
    first = pl.col("_key")
    repeats = rows.filter(duplicated).with_columns(
        pl.col(c).first().over(first).alias(f"_first{c}")
        for c in ("value", "currency", "_file", "_row", "value_as_given", "unit_as_given")
    )
    differs = (pl.col("value") != pl.col("_firstvalue")) | pl.col("currency").ne_missing(
        pl.col("_firstcurrency")
    )
    given = (
        pl.when(pl.col("unit_as_given") != pl.col("_firstunit_as_given"))
        .then(pl.format("{} {}", "_firstvalue_as_given", "_firstunit_as_given"))
        .otherwise(pl.col("_firstvalue_as_given"))
    )
    key = pl.format(
        "indicator '{}', initiative '{}', geography '{}', period '{}', source '{}'",
        "indicator", "initiative", "geography", "period", "source",
    )  # fmt: skip
    conflicts = repeats.filter(differs).select(
        "_file", "_row", "_col",
        pl.lit("").alias("column"),
        pl.col("value_as_given").alias("found"),
        pl.lit("conflict").alias("kind"),
        pl.format("{}\t{}\t{}\t{}", "_first_file", "_first_row", given, key).alias("detail"),
    )  # fmt: skip
    run.problems.add_cells(conflicts)
    later = (pl.col("_file") != pl.col("_first_file")) | (pl.col("_row") != pl.col("_first_row"))
    dropped = repeats.filter(~differs & later)
    for file_no, count in dropped.group_by("_file").len().sort("_file").iter_rows():
        run.warnings.append(
            f"{run.files[file_no]}: {count} row(s) repeat a point given earlier in this call "
            "with the same value; loaded once"
        )
    return rows.filter(~duplicated | rows["_key"].is_first_distinct())

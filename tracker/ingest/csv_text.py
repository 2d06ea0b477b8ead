"""A CSV file's bytes -> a table of text: its header, its fields, and each row's line number.

Checks the bytes first (empty, UTF-16, binary, not valid in the encoding), chooses the
delimiter from the header line unless one is given, and reads with polars, every field as
text. Rows whose field count differs from the header's are found line by line and refused;
when polars cannot read a file, Python's csv module re-reads it to say which line is
malformed. Problems go to the caller's `Problem` callback as (line, message).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import polars as pl
from polars.exceptions import PanicException

from tracker.ingest.columns import ROW

SAMPLE_BYTES = 8192
# Bytes that do not occur in text: controls other than tab, newlines, form feed, backspace.
_NON_TEXT = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13)) + b"\x7f"

Problem = Callable[[int, str], None]  # (line, message); line 0: the file as a whole


@dataclass(frozen=True)
class Dialect:
    """How to read the files of one call."""

    encoding: str  # a Python text codec name, already checked
    delimiter: str | None  # one character; None: chosen from each file's header line
    coded: Collection[str]  # lower-cased header names read as categoricals (few distinct values)
    expected_header: str  # a header line to suggest when a file is empty


@dataclass
class Table:
    """One file's fields as text: header and body (columns c0..cN, `_row`)."""

    file_no: int
    header: list[str]
    header_line: int
    body: pl.DataFrame
    lines: pl.Series | None = None  # line of each body row; None: one line each, in order
    delimiter: str = ","  # the delimiter the file was read with

    def line_of(self, row: int) -> int:
        return self.header_line + 1 + row if self.lines is None else int(self.lines[row])


def parse(raw: bytes, file_no: int, dialect: Dialect, problem: Problem) -> Table | None:
    """A file's bytes as a table of text, or None when there is nothing to take from it
    (each reason reported to `problem`); rows of the wrong length are reported and left out.
    """
    data = _as_utf8(raw, dialect, problem)
    if data is None:
        return None
    if b"\n" not in data and b"\r" in data:  # classic Mac line ends
        data = data.replace(b"\r", b"\n")
    if data.endswith((b"\n\n", b"\n\r\n")):
        data = data.rstrip(b"\r\n") + b"\n"
    reported: list[int] = []  # lines of the problems the readers reported

    def report(line: int, message: str) -> None:
        reported.append(line)
        problem(line, message)

    end = data.find(b"\n")
    delimiter = dialect.delimiter or _sniff_delimiter(data if end < 0 else data[:end])
    table = _fast_read(data, delimiter, file_no, dialect, report)
    if table is None:
        text = data.decode("utf-8")
        table = _read_with_csv_module(text, delimiter, file_no, dialect, report)
    if table is None:
        return None
    table.delimiter = delimiter
    if table.body.height == 0:
        if not reported:  # not because every row was refused
            problem(0, "the file has a header but no data rows")
        return None
    return table


def _empty_file(dialect: Dialect) -> str:
    return f"the file is empty; expected a header line such as {dialect.expected_header}"


def _as_utf8(data: bytes, dialect: Dialect, problem: Problem) -> bytes | None:
    """The file's text as UTF-8 bytes without a byte-order mark, or None (problem added)."""
    blank = b" \t\r\n\xef\xbb\xbf"
    if not data[:65536].strip(blank) and not data.strip(blank):
        problem(0, _empty_file(dialect))
        return None
    encoding = dialect.encoding
    if encoding in ("utf-8", "utf-8-sig"):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            problem(
                0, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                "run again with --encoding utf-16",
            )  # fmt: skip
            return None
        if _looks_binary(data[:SAMPLE_BYTES]):
            problem(0, "this looks like a binary file, not CSV")
            return None
        data = data.removeprefix(b"\xef\xbb\xbf")
        if _holds_nul(data, problem):
            return None
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as error:
                line, column = _position(data, error.start)
                problem(
                    line, "the file is not valid UTF-8 (byte "
                    f"0x{data[error.start]:02X} at column {column}); if it is Latin-1 or "
                    "Windows-1252, run again with --encoding latin-1 (or cp1252)",
                )  # fmt: skip
                return None
        return data
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line, column = _position(data, error.start)
        problem(
            line, f"the file is not valid {encoding} (byte "
            f"0x{data[error.start]:02X} at column {column}); check --encoding",
        )  # fmt: skip
        return None
    text = text.removeprefix("\ufeff")
    if _looks_binary(text[:SAMPLE_BYTES].encode("utf-8", "replace")):
        problem(0, "this looks like a binary file, not CSV")
        return None
    data = text.encode("utf-8")
    return None if _holds_nul(data, problem) else data


def _looks_binary(sample: bytes) -> bool:
    """More than 10% control bytes (NUL included) in the sample."""
    controls = len(sample) - len(sample.translate(None, _NON_TEXT))
    return controls > 0.1 * len(sample)


def _holds_nul(data: bytes, problem: Problem) -> bool:
    """A NUL byte anywhere in a text file: reported on its line (the readers would keep it)."""
    offset = data.find(b"\x00")
    if offset < 0:
        return False
    line, column = _position(data, offset)
    problem(line, f"the line contains a NUL byte (column {column}); text never does: remove "
            "it, or check that this is the CSV file you meant")  # fmt: skip
    return True


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


# --- categorical columns -------------------------------------------------------------------


def categories(frame: pl.DataFrame, name: str) -> list[str]:
    """Every category of a categorical column, in the order of its physical codes."""
    dtype = frame.schema[name]
    assert isinstance(dtype, pl.Categorical)
    return [str(text) for text in dtype.categories.to_series().to_list()]


def per_category(
    frame: pl.DataFrame, name: str, values: Sequence[object], dtype: pl.DataType
) -> pl.Expr:
    """`values[category]` for each row of categorical column `name`."""
    return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col(name).to_physical())


def as_categorical(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """`frame` with the named text columns as categoricals, each with its own categories."""
    return frame.with_columns(
        pl.col(n).cast(pl.Categorical(pl.Categories.random())) for n in names if n in frame
    )


def _coded_positions(header: Sequence[str | None], coded: Collection[str]) -> list[int]:
    """Positions of the header's columns of few distinct values (read as categoricals)."""
    return [i for i, n in enumerate(header) if (n or "").strip().lower() in coded]


def _with_coded_types(
    body: pl.DataFrame, header: Sequence[str], coded: Collection[str]
) -> pl.DataFrame:
    """The body with coded columns categorical and every other column text."""
    names = {f"c{i}" for i in _coded_positions(header, coded)}
    wrong = [
        c for c, t in body.schema.items()
        if c != ROW and (c in names) != isinstance(t, pl.Categorical)
    ]  # fmt: skip
    body = body.with_columns(pl.col(c).cast(pl.String) for c in wrong if c not in names)
    return as_categorical(body, [c for c in wrong if c in names])


# --- the readers ---------------------------------------------------------------------------


def _fast_read(
    data: bytes, delimiter: str, file_no: int, dialect: Dialect, problem: Problem
) -> Table | None:
    """The polars reader, its problems passed on only when it succeeds: on any failure of
    polars (some malformed inputs make it panic) the csv module reads the file instead."""
    if data.count(b'"') % 2:
        # An unbalanced quote is always malformed, and it can make polars panic mid-way;
        # the csv module names the line.
        return None
    held: list[tuple[int, str]] = []
    try:
        table = _read_with_polars(
            data, delimiter, file_no, dialect, lambda line, message: held.append((line, message))
        )
    except (Exception, PanicException):
        return None
    for line, message in held:
        problem(line, message)
    return table


def _read_with_polars(
    data: bytes, delimiter: str, file_no: int, dialect: Dialect, problem: Problem
) -> Table | None:
    """The fast reader; None when polars refuses the file (the csv module takes over)."""
    coded = dialect.coded
    head = data[: data.find(b"\n") + 1 or len(data)].decode("utf-8", "replace")
    first = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), [])
    positions = _coded_positions(first, coded)
    types: list[pl.DataType] = [
        pl.Categorical(pl.Categories.random()) if i in positions else pl.String()
        for i in range(len(first))
    ]

    def read(types: list[pl.DataType] | None) -> pl.DataFrame:
        return pl.read_csv(
            data, has_header=False, infer_schema=False, separator=delimiter, schema_overrides=types
        )

    def read_text_coded_on_the_way() -> pl.DataFrame:
        """Every field read as text, the coded columns cast to categoricals chunk by chunk
        (the streaming engine keeps the rows in order), so their text is never held whole."""
        lazy = pl.scan_csv(
            io.BytesIO(data), has_header=False, infer_schema=False, separator=delimiter
        )
        names = lazy.collect_schema().names()
        casts = [pl.col(names[i]).cast(types[i]) for i in positions if i < len(names)]
        return lazy.with_columns(casts).collect(engine="streaming")

    # Read as categoricals only a file without quotes: a categorical column swallows
    # malformed quoting ('"KAZ"x' becomes 'KAZ', a cut may even split a character), while a
    # text column raises (the coded columns become categoricals below).
    frame: pl.DataFrame | None = None
    attempts: list[Callable[[], pl.DataFrame]] = [lambda: read(types), lambda: read(None)]
    if b'"' in data:
        attempts = [read_text_coded_on_the_way, lambda: read(None)]
    for attempt in attempts:
        try:
            frame = attempt()
            break
        except (Exception, PanicException):
            continue
    if frame is None:
        return None
    frame = frame.rename({name: f"c{i}" for i, name in enumerate(frame.columns)})
    header = ["" if h is None else str(h) for h in frame.row(0)]
    delimiters, newlines = _counts_inside_fields(frame, data, delimiter)
    if data.count(delimiter.encode()) - delimiters != frame.height * (frame.width - 1):
        # Polars raises on longer rows but fills shorter ones (and blank lines) with nulls:
        # find them line by line. Counting quotes per line cannot tell a quote taken as it
        # is (12" pipe) from one that opens a field: with quotes, the csv module reads.
        if b'"' in data:
            return None
        records = _records(data, delimiter)
        if records is None or records.height != frame.height:
            return None
        width = frame.width
        ragged = records.filter(~pl.col("blank") & (pl.col("fields") != width))
        for line, fields in ragged.select("first_line", "fields").rows():
            problem(line, f"found {fields} fields, expected {width} (as in the header)")
        keep = ~records["blank"] & (records["fields"] == width)
        frame = frame.filter(keep)
        first_lines = records.filter(keep)["first_line"].slice(1)
        body = _with_coded_types(frame.slice(1).with_row_index(ROW), header, coded)
        return Table(file_no, header, 1, body, first_lines)
    lines: pl.Series | None = None
    if newlines:  # a record spans lines: count them
        breaks = frame.select(
            pl.sum_horizontal(
                pl.all().cast(pl.String).str.count_matches("\n", literal=True)
            ).fill_null(0)
        ).to_series()
        starts = pl.int_range(1, frame.height + 1, eager=True) + breaks.cum_sum() - breaks
        lines = starts.slice(1)
    body = _with_coded_types(frame.slice(1).with_row_index(ROW), header, coded)
    return Table(file_no, header, 1, body, lines)


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
            elif any(found := [category.count(text) for category in categories(frame, name)]):
                count = per_category(frame, name, found, pl.UInt32())
            counts.append(count.sum().alias(f"{name}{text!r}"))
    totals = [int(n or 0) for n in frame.select(counts).row(0)]
    return sum(totals[0::2]), sum(totals[1::2])


def _read_with_csv_module(
    text: str, delimiter: str, file_no: int, dialect: Dialect, problem: Problem
) -> Table | None:
    """The careful reader, for files polars cannot read: says which lines are malformed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 1
    records: list[list[str]] = []
    lines: list[int] = []
    previous = 0
    limit = csv.field_size_limit()  # polars reads fields of any length: so does this reader
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header, header_line = record, start
            elif len(record) != len(header):
                fields = f"found {len(record)} fields, expected {len(header)} (as in the header)"
                problem(start, fields)
            else:
                records.append(record)
                lines.append(start)
    except csv.Error as error:
        problem(previous + 1, _csv_error_message(str(error)))
        return None
    finally:
        csv.field_size_limit(limit)
    if header is None:
        problem(0, _empty_file(dialect))
        return None
    columns = {f"c{i}": [record[i] or None for record in records] for i in range(len(header))}
    body = pl.DataFrame(columns, schema={c: pl.String for c in columns}).with_row_index(ROW)
    body = _with_coded_types(body, header, dialect.coded)
    return Table(file_no, header, header_line, body, lines=pl.Series(lines))


def _csv_error_message(error: str) -> str:
    if "unexpected end of data" in error:
        return "a quoted field that starts here is never closed; check for a missing '\"'"
    if "NUL" in error:
        return "the line contains a NUL byte; this looks like a binary file, not CSV"
    return (
        f"malformed CSV ({error}); a quoted field must end with a quote followed by the "
        'delimiter or the line end, with quotes inside it doubled ("")'
    )

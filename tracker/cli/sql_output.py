"""The rows of `tracker sql` as CSV, JSON or a rich table, written batch by batch as DuckDB
hands them over (no polars). Cells read as polars wrote them before: CSV quotes only what
needs it and keeps '' apart from NULL (empty); JSON is one array of objects, DECIMAL and
HUGEINT as exact strings, NaN and infinities as null; floats are shortest round-trip text.
Every format writes BLOBs as escaped text (`\\x00`) and infinite dates and timestamps as
`infinity` / `-infinity`; the table shows data as plain text (never as Rich markup) and at
most TABLE_ROWS rows.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from tracker.errors import InputError
from tracker.text import exact

if TYPE_CHECKING:
    from tracker.store import QueryRows

_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT"}  # fmt: skip
_WIDE_INTEGERS = {"HUGEINT", "UHUGEINT"}  # beyond what JSON readers keep exact: strings
_FLOATS = {"FLOAT", "DOUBLE"}
# Rows a table shows; the rest are counted, not kept (`--format csv` writes them all).
TABLE_ROWS = 1_000


def is_numeric(type_name: str) -> bool:
    """True for DuckDB's integer, floating-point and DECIMAL types (right-aligned in tables)."""
    return type_name in _INTEGERS | _WIDE_INTEGERS | _FLOATS or type_name.startswith("DECIMAL")


def write_csv(rows: QueryRows, stream: IO[str]) -> None:
    """A header line, then one line per row; written as each batch arrives."""
    stream.write(",".join(_csv_field(name) for name in rows.columns) + "\n")
    single = [t == "FLOAT" for t in rows.types]
    for batch in rows.batches:
        stream.write(
            "".join(
                ",".join(_csv_field(_csv_text(v, f)) for v, f in zip(row, single, strict=True))
                + "\n"
                for row in batch
            )
        )


def write_json(rows: QueryRows, stream: IO[str]) -> None:
    """One JSON array of objects (column -> value); written as each batch arrives."""
    kinds = [_json_kind(t) for t in rows.types]
    stream.write("[")
    first = True
    for batch in rows.batches:
        parts = []
        for row in batch:
            record = {
                name: _json_value(value, kind)
                for name, value, kind in zip(rows.columns, row, kinds, strict=True)
            }
            parts.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        if parts:
            stream.write(("" if first else ",") + ",".join(parts))
            first = False
    stream.write("]\n")


def table(rows: QueryRows, title: str | None, limit: int | None = None) -> Table:
    """The rows in a rich table (the first `limit`, then a line counting the rest); numeric
    columns right-aligned, NULL as an empty cell, every text shown as it is."""
    shown = Table(title=title)
    for name, type_name in zip(rows.columns, rows.types, strict=True):
        shown.add_column(Text(name), justify="right" if is_numeric(type_name) else "left")
    more = 0
    for row in _rows(rows):
        if limit is not None and len(shown.rows) >= limit:
            more += 1
            continue
        shown.add_row(*(Text("" if cell is None else _plain_text(cell)) for cell in row))
    if more:
        shown.caption = Text(
            f"... {more:,} more row(s) not shown; use --format csv or json for all of them."
        )
    return shown


def _plain_text(value: Any) -> str:
    if isinstance(value, bytes):
        return blob_text(value)
    if isinstance(value, Decimal):
        return exact(value)
    return str(value)


def blob_text(value: bytes) -> str:
    """A BLOB as DuckDB writes it: printable ASCII as is, every other byte as `\\xHH`."""
    return "".join(
        chr(byte) if 32 <= byte < 127 and byte != 92 else f"\\x{byte:02X}" for byte in value
    )


def _rows(rows: QueryRows) -> Iterator[tuple[Any, ...]]:
    for batch in rows.batches:
        yield from batch


def _csv_field(text: str | None) -> str:
    if text is None:
        return ""
    if text == "" or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_text(value: Any, single: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _float_text(value, single)
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return f"{value:%Y-%m-%dT%H:%M:%S.%f%z}"
        return value.isoformat(timespec="microseconds")
    if isinstance(value, time):
        return f"{value:%H:%M:%S}.{value.microsecond:06d}000"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return blob_text(value)
    return str(value)


def _json_kind(type_name: str) -> str:
    if type_name in _WIDE_INTEGERS:
        return "text"
    return "single" if type_name == "FLOAT" else "plain"


def _json_value(value: Any, kind: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return str(value) if kind == "text" else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(_float_text(value, True)) if kind == "single" else value
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        fraction = _fraction(value.microsecond)
        if value.tzinfo is not None:
            offset = value.isoformat()[-6:]
            return f"{value:%Y-%m-%dT%H:%M:%S}{fraction}{offset}"
        return f"{value:%Y-%m-%d %H:%M:%S}{fraction}"
    if isinstance(value, time):
        return f"{value:%H:%M:%S}{_fraction(value.microsecond)}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(item, "plain") for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item, "plain") for key, item in value.items()}
    if isinstance(value, bytes):
        return blob_text(value)
    return str(value)


def _fraction(microsecond: int) -> str:
    """'', '.123' or '.123456': milliseconds when they say it all, as polars wrote them."""
    if microsecond == 0:
        return ""
    if microsecond % 1000 == 0:
        return f".{microsecond // 1000:03d}"
    return f".{microsecond:06d}"


def _float_text(value: float, single: bool) -> str:
    """The shortest text that reads back as `value` (as a 4-byte float when `single`)."""
    if single:
        stored = struct.unpack("f", struct.pack("f", value))[0]
        for digits in range(1, 10):
            text = f"{value:.{digits}g}"
            if struct.unpack("f", struct.pack("f", float(text)))[0] == stored:
                return repr(float(text))
    return repr(value)


FORMATS = ("table", "csv", "json")


def output_format(given: str) -> str:
    """The --format a command was given, checked: 'table', 'csv' or 'json' (any case)."""
    chosen = given.lower()
    if chosen not in FORMATS:
        raise InputError(f"--format: found '{given}', expected table, csv or json.")
    return chosen

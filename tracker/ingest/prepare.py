"""CSV files -> one validated, normalised batch of observations, written by `load` with
`store.batches.write_batch`.

The success path is vectorised. `ingest.csv_text` reads every field as text, the columns of few
distinct values (indicator, initiative, geography, period, unit, source) as categoricals;
`ingest.values` resolves each distinct text once in Python to an integer code (the codes
live in the `ingest.state.IngestState` shared by all files) and maps codes back to rows with
`gather`. This module reads the header (long or wide), checks each file's rows, and merges
the files, keeping each point once. Python loops over rows only to describe problems, or when polars
cannot read a file (or its fields do not add up) and Python's csv module re-reads it to say
which line is malformed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
from polars.exceptions import PanicException

from tracker.errors import IngestError, InputError
from tracker.files import file_problems, not_a_regular_file
from tracker.ingest.columns import (
    BODY,
    CHECKED,
    COL,
    CON,
    CON_BLANK,
    CUR,
    FILE,
    FIRST_CONTRIBUTOR,
    FIRST_CURRENCY,
    FIRST_FILE,
    FIRST_QUALIFIER,
    FIRST_ROW,
    FIRST_UNIT_AS_GIVEN,
    FIRST_VALUE,
    FIRST_VALUE_AS_GIVEN,
    GEO,
    IND,
    INI,
    KEY,
    NOTE,
    OK,
    PER,
    QUAL,
    RESOLVED,
    ROW,
    SRC,
    STORED_VALUE,
    UNIT_TEXT,
    VALUE,
    VALUE_TEXT,
    check_columns,
)
from tracker.ingest.csv_text import Dialect, Table, parse
from tracker.ingest.state import IngestOptions as IngestOptions  # part of ingest's interface
from tracker.ingest.state import IngestState, canonical_period, show
from tracker.ingest.values import (
    Layout,
    fiscal_pending,
    report_cell_problems,
    resolve,
    values_frame,
)
from tracker.models import BatchSummary, Catalog, IndicatorInfo
from tracker.store.batches import second_sources, write_batch
from tracker.store.connection import Connection
from tracker.store.sync import catalog as store_catalog
from tracker.text import amount, closest

OUTPUT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "indicator": pl.String, "initiative": pl.String, "geography": pl.String,
    "period": pl.String, "period_start": pl.Date, "period_end": pl.Date, "source": pl.String,
    "value": STORED_VALUE, "currency": pl.String, "value_as_given": pl.String,
    "unit_as_given": pl.String, "note": pl.String, "qualifier": pl.String,
    "contributor": pl.String,
}  # fmt: skip
OBSERVATION_COLUMNS = tuple(OUTPUT_SCHEMA)
LONG_COLUMNS = (
    "indicator", "initiative", "geography", "period", "value", "unit", "source", "note",
    "qualifier", "contributor",
)  # fmt: skip
CODED_COLUMNS = (
    "indicator", "initiative", "geography", "period", "unit", "source", "qualifier", "contributor",
)  # fmt: skip
# Columns `tracker extract` writes for the analyst's review: accepted and never read.
REVIEW_COLUMNS = ("confidence", "review")
REQUIRED_COLUMNS = ("indicator", "period", "value")
MAX_SHOWN = 50
ADVICE = 'Fix the problems above and run `tracker ingest` again; see README "CSV format".'


@dataclass(frozen=True)
class InlineCsv:
    """CSV text given by a command rather than read from a file (`tracker add`'s one row, an
    importer's rows): `name` stands for the file in messages and in `batches.files`.

    An importer that made `data` from a publisher's file gives that file's `sha256` (for
    `batches.sha256`) and `where`: the place a line of `data` stands for in messages
    (`where(2)` -> 'API_NY.GDP.MKTP.CD.csv:6 (Aruba, ABW, NY.GDP.MKTP.CD, 1986)').
    """

    name: str
    data: bytes
    sha256: str | None = None
    where: Callable[[int], str] | None = None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class PreparedBatch:
    """What `prepare` hands to `store.batches.write_batch`: rows plus file and source records."""

    rows: pl.DataFrame  # OBSERVATION_COLUMNS
    files: tuple[str, ...]  # file paths as given
    sha256s: tuple[str, ...]  # sha256 of each file's bytes
    new_sources: pl.DataFrame  # id, title, url, kind, note: citations to register
    warnings: tuple[str, ...] = ()


def load(
    conn: Connection,
    paths: Sequence[Path | InlineCsv],
    options: IngestOptions,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    dry_run: bool = False,
) -> tuple[PreparedBatch, BatchSummary]:
    """What `tracker ingest` does inside the caller's transaction: `prepare` the files
    against the store's catalog, then write them as one batch (nothing with dry_run)."""
    catalog = store_catalog(conn)
    prepared = prepare(paths, catalog, options, progress)
    shared = second_sources(conn, prepared.rows, SECOND_SOURCES_SHOWN)
    summary = write_batch(
        conn,
        prepared.rows,
        files=prepared.files,
        sha256s=prepared.sha256s,
        new_sources=prepared.new_sources,
        dry_run=dry_run,
    )
    if shared:
        summary = replace(
            summary,
            second_sources=_second_source_lines(shared, catalog, prepared),
            second_source_points=int(shared[0][1]),
        )
    return prepared, summary


SECOND_SOURCES_SHOWN = 20


def _second_source_lines(
    shared: Sequence[tuple[object, ...]], catalog: Catalog, prepared: PreparedBatch
) -> tuple[str, ...]:
    """One line per point given another source: each source's figure, the headline first,
    and why the headline rule picks it."""
    titles = dict(catalog.sources)
    titles.update(zip(prepared.new_sources["id"], prepared.new_sources["title"], strict=True))
    points: dict[object, list[tuple[object, ...]]] = {}
    for row in shared:
        points.setdefault(row[0], []).append(row)
    lines = []
    for givers in points.values():
        indicator, initiative, geography, period = (str(v) for v in givers[0][2:6])
        info = catalog.indicators[indicator]

        head, second = givers[0], givers[1]
        lines.append(
            f"{indicator}, {initiative}, {geography}, {period}: "
            + "; ".join(_giver_text(row, info, titles) for row in givers)
            + f". Headline: {_giver_text(head, info, titles, short=True)}, "
            + f"{_why_headline(head, second)}."
        )
    return tuple(lines)


def _giver_text(
    row: tuple[object, ...], info: IndicatorInfo, titles: dict[str, str], short: bool = False
) -> str:
    """'USD 120 bn from src-1a2b "IMF Article IV" (unspecified, new in this call)'."""
    source, value, currency, qualifier, kind, is_new = row[6:12]
    written = amount(
        float(str(value)), info.unit, _text(currency), info.count_noun, _text(qualifier)
    )
    cited = str(source)
    if cited.startswith("src-"):  # a registered citation: its text says more than its id
        cited += f' "{show(titles.get(cited, ""), 60)}"'
    if short:
        return f"{written} from {cited}"
    return f"{written} from {cited} ({kind}{', new in this call' if is_new else ''})"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _why_headline(head: tuple[object, ...], second: tuple[object, ...]) -> str:
    """Which step of the headline rule (migration 009) put `head` before `second`."""
    kinds = ("primary", "secondary", "unspecified")
    if head[12]:
        return "the indicator's preferred source"
    rank = [kinds.index(str(k)) if k in kinds else 3 for k in (head[10], second[10])]
    if rank[0] != rank[1]:
        return f"{head[10]} before {second[10]}"
    if head[13] is not None and head[13] != second[13]:
        return f"the newest published ({head[13]})"
    return "by source id (same kind, neither published later)"


def prepare(
    paths: Sequence[Path | InlineCsv],
    catalog: Catalog,
    options: IngestOptions,
    progress: Callable[[str, int, int], None] | None = None,
) -> PreparedBatch:
    """Read, validate and normalise CSV files into one batch; raises IngestError listing
    every problem (at most 50 shown, with the total).

    `load` writes the batch (inside one transaction). `progress` is called with
    ("reading CSV files", files done, files in all) before each file and at the end.
    """
    state = IngestState(catalog, options, [str(p) for p in paths])
    dialect = Dialect(state.encoding, state.delimiter, CODED_COLUMNS, ",".join(LONG_COLUMNS))
    frames: list[pl.DataFrame] = []
    digests: list[str] = []
    for number, path in enumerate(paths):
        if progress:
            progress("reading CSV files", number, len(paths))
        try:
            table = _load(path, number, state, dialect, digests)
            frame = _check_rows(table, state) if table is not None else None
        except (Exception, PanicException) as error:  # never a traceback for a file
            state.problems.add(number, 0, _unexpected(error))
            frame = None
        if number in state.tables:  # only the header and line numbers are needed from here
            state.tables[number].body = state.tables[number].body.clear()
        if frame is not None:
            frames.append(frame)
    if progress:
        progress("reading CSV files", len(paths), len(paths))
    try:
        rows = _merge(frames, state)
    except (Exception, PanicException) as error:
        state.problems.add(-1, 0, _unexpected(error))
        rows = pl.DataFrame(schema=OUTPUT_SCHEMA)
    if state.problems.total:
        shown, total = _render_problems(state, paths)
        raise IngestError(shown, ADVICE, total)
    return PreparedBatch(
        rows=rows,
        files=tuple(state.files),
        sha256s=tuple(digests),
        new_sources=state.new_sources_frame(),
        warnings=tuple(state.warnings),
    )


def _unexpected(error: BaseException) -> str:
    """A problem for an error no check foresaw (a bug: the message asks for a report)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return (
        f"could not be read (unexpected {type(error).__name__}: {show(first, 200)}); "
        "please report this, with the file"
    )


def check_files(paths: Sequence[Path]) -> None:
    """Refuse, before any file is opened, a path that is missing or not a regular file (a
    folder, a FIFO, a device), and a file given twice (by any name): InputError naming each
    (`files.file_problems`)."""
    problems = file_problems(paths)
    if problems:
        raise InputError(" ".join(problems) + " Nothing was loaded.")


def _load(
    path: Path | InlineCsv, file_no: int, state: IngestState, dialect: Dialect, digests: list[str]
) -> Table | None:
    """Read one file's bytes, note their sha256, and parse them into a table of text."""
    try:
        if isinstance(path, InlineCsv):
            raw = path.data
        else:
            kind = not_a_regular_file(os.stat(path).st_mode)  # before opening: a FIFO blocks
            if kind:
                raise OSError(f"{kind}; expected a CSV file")
            raw = path.read_bytes()
    except OSError as error:
        digests.append(hashlib.sha256(b"").hexdigest())
        state.problems.add(file_no, 0, f"cannot be read ({error.strerror or error})")
        return None

    def problem(line: int, message: str) -> None:
        state.problems.add(file_no, line, message)

    known = path.sha256 if isinstance(path, InlineCsv) else None  # the publisher's file's
    with ThreadPoolExecutor(max_workers=1) as pool:  # hash while polars parses
        digest = pool.submit(lambda: known or hashlib.sha256(raw).hexdigest())
        try:
            table = None if state.option_problems else parse(raw, file_no, dialect, problem)
        finally:
            digests.append(digest.result())
    if table is not None:
        state.tables[file_no] = table
    return table


# --- problems as messages ------------------------------------------------------------------


def _render_problems(
    state: IngestState, paths: Sequence[Path | InlineCsv]
) -> tuple[list[str], int]:
    """The first MAX_SHOWN problems as 'file:line: message' (sorted), and how many in all;
    an importer's rows name the place in the publisher's file instead of 'file:line'."""
    problems = state.problems
    entries = list(problems.texts)
    if problems.cells:
        cells = pl.concat(problems.cells).sort(FILE, ROW, COL).head(MAX_SHOWN)
        for cell in cells.iter_rows(named=True):
            line = state.line_of(cell[FILE], cell[ROW])
            entries.append((cell[FILE], line, cell[COL], _describe(cell, state)))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    shown = []
    for file_no, line, _, message in entries[:MAX_SHOWN]:
        where = "" if file_no < 0 else state.files[file_no]
        place = getattr(paths[file_no], "where", None) if file_no >= 0 else None
        if line > 1 and place is not None:
            where = place(line)
        else:
            where += f":{line}" if line > 0 and file_no >= 0 else ""
        shown.append(f"{where}: {message}" if where else message)
    return shown, problems.total


def _describe(cell: dict[str, object], state: IngestState) -> str:
    column, found, kind, detail = (
        str(cell[k] or "") for k in ("column", "found", "kind", "detail")
    )
    if kind == "conflict":
        column = _column_name(state, int(str(cell[FILE])), int(str(cell[COL])))
    if kind == "empty":
        return f"column '{column}': found nothing, expected {detail}"
    if kind == "unknown":
        hint = state.suggestion(detail, found.strip())
        return f"column '{column}': found '{show(found)}', unknown {detail}{hint}"
    if kind == "conflict":
        file_no, row, given, key = detail.split("\t", 3)
        other = f"{state.files[int(file_no)]}:{state.line_of(int(file_no), int(row))}"
        return (
            f"column '{column}': found '{show(found)}', but the same point ({key}) is also "
            f"given as {given} at {other}; give each point once"
        )
    return f"column '{column}': found '{show(found)}', {detail}"


def _column_name(state: IngestState, file_no: int, index: int) -> str:
    name = state.tables[file_no].header[index].strip()
    return name.lower() if name.lower() in LONG_COLUMNS else name


def _names(names: Sequence[str], limit: int = 20) -> str:
    listed = ", ".join(show(n, 40) for n in names[:limit])
    return listed + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# --- header: long or wide, known columns ---------------------------------------------------

WORLD_BANK_ADVICE = (
    "this looks like a World Bank / WDI download (a 'Data Source' preamble or 'Country Name',"
    " 'Country Code', 'Indicator Name', 'Indicator Code' columns), which is not tracker's "
    "format; load it with `tracker import worldbank FILE` (its indicator codes are mapped "
    "to tracker's indicators by indicators/mappings/*.toml); see README \"Importing "
    "publishers' files\""
)


def _looks_like_world_bank(names: Sequence[str]) -> bool:
    """A World Bank WDI CSV: 'Data Source,World Development Indicators' preamble on line 1,
    or the header with 'Country Code' and 'Indicator Code' (DataBank: 'Series Code')."""
    lowered = {name.lower() for name in names}
    preamble = bool(names) and names[0].lower() == "data source"
    codes = "country code" in lowered and bool({"indicator code", "series code"} & lowered)
    return preamble or codes


def _layout(table: Table, state: IngestState) -> Layout | None:
    """Where the header's known columns are, and whether the file is wide; None after a
    problem that stops the file (an unknown column alone does not)."""
    file_no, line = table.file_no, table.header_line
    names = [name.strip() for name in table.header]
    before = state.problems.total
    if _looks_like_world_bank(names):
        state.problems.add(file_no, line, WORLD_BANK_ADVICE)
        return None
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            state.problems.add(
                file_no, line, f"column {index + 1} of the header has no name; every column "
                "needs one (delete the column if it is empty)", index,
            )  # fmt: skip
        elif name.lower() in seen:
            state.problems.add(
                file_no, line, f"column '{show(name)}' appears twice in the header (columns "
                f"{seen[name.lower()] + 1} and {index + 1}); keep one", index,
            )  # fmt: skip
        seen.setdefault(name.lower(), index)
    columns = {n.lower(): i for i, n in enumerate(names) if n.lower() in LONG_COLUMNS}
    columns = {n: seen[n] for n in columns}
    periods: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(names):
        if name and name.lower() not in LONG_COLUMNS and name.lower() not in REVIEW_COLUMNS:
            canonical = canonical_period(name)
            if canonical is None:
                unknown.append(name)
            else:
                periods[index] = canonical
    wide = bool(periods) and "period" not in columns and "value" not in columns
    if periods and not wide:
        listed = ", ".join(f"'{show(names[i])}'" for i in list(periods)[:5])
        state.problems.add(
            file_no, line, f"column(s) {listed} look like periods (wide format), but the header "
            "also has a 'period' or 'value' column; a file is either long (period and value "
            "columns) or wide (one column per period, no period or value column)",
        )  # fmt: skip
    if unknown:
        described = []
        for name in unknown[:10]:
            match = closest(name.lower(), LONG_COLUMNS)
            hint = f" (did you mean '{match}'?)" if match else ""
            described.append(f"'{show(name, 40)}'{hint}")
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        state.problems.add(
            file_no, line, f"unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(described)}{more}; accepted columns: {', '.join(LONG_COLUMNS)}, or "
            "instead of period and value one column per period (2019, 2024-H1, ...)",
        )  # fmt: skip
    for required in ("indicator",) if wide else REQUIRED_COLUMNS:
        if required not in columns:
            state.problems.add(
                file_no, line, f"missing required column '{required}' (columns found: "
                f"{_names(names)})",
            )  # fmt: skip
    if "source" not in columns and state.default_source is None:
        state.problems.add(
            file_no, line, "no 'source' column and no --source given; add a source column "
            'or run again with --source SOURCE_ID (or --source "citation")',
        )  # fmt: skip
    blocking = state.problems.total - before - (1 if unknown else 0)
    return None if blocking else Layout(columns, periods, wide, table.delimiter)


# --- rows of one file ----------------------------------------------------------------------


def _check_rows(table: Table, state: IngestState) -> pl.DataFrame | None:
    """Validated rows of one file (codes, converted values), or None after problems."""
    layout = _layout(table, state)
    if layout is None:
        return None
    check_columns(table.body, BODY)
    frame = check_columns(resolve(values_frame(table, layout, state), layout, state), RESOLVED)
    if frame.height == 0:
        state.warnings.append(f"{state.files[table.file_no]}: no values found; nothing to load")
        return None
    report_cell_problems(frame, table, layout, state)
    frame = frame.select(
        pl.lit(table.file_no, dtype=pl.Int64).alias(FILE),
        ROW,
        COL,
        IND, INI, GEO, CON, PER, SRC,
        pl.col(VALUE).alias("value"),
        pl.lit(pl.Series(state.currencies, dtype=pl.String))
        .gather(pl.col(CUR)).alias("currency"),
        pl.col(VALUE_TEXT).alias("value_as_given"),
        pl.col(UNIT_TEXT).alias("unit_as_given"),
        pl.col(NOTE).alias("note"),
        pl.col(QUAL).alias("qualifier"),
        pl.all_horizontal(
            *(pl.col(c).is_not_null() for c in (IND, INI, GEO, PER, SRC, VALUE)),
            pl.col(CON).is_not_null() | pl.col(CON_BLANK),
            ~fiscal_pending(state),
        ).alias(OK),
    )  # fmt: skip
    if not frame[OK].all():
        frame = frame.filter(OK)
    for code in frame[SRC].unique().to_list():
        source_id = state.source_codes.ids[code]
        if source_id in state.new_sources:
            state.source_file.setdefault(source_id, state.files[table.file_no])
    return check_columns(frame.drop(OK), CHECKED)


# --- all files together: duplicates, canonical text ----------------------------------------


def _merge(frames: list[pl.DataFrame], state: IngestState) -> pl.DataFrame:
    """One frame of OBSERVATION_COLUMNS; a point given twice is kept once, or refused when
    the two values differ."""
    if not frames:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    rows = pl.concat(frames)
    codes = {
        IND: ("indicator", state.indicator_codes),
        INI: ("initiative", state.initiative_codes),
        GEO: ("geography", state.geography_codes),
        PER: ("period", state.period_codes),
        SRC: ("source", state.source_codes),
    }
    sizes = [max(len(table.ids), 1) for _, table in codes.values()]
    if math.prod(sizes) < 2**63:  # the key as one integer
        key = pl.lit(0, pl.UInt64)
        for alias, size in zip(codes, sizes, strict=True):
            key = key * size + pl.col(alias).cast(pl.UInt64)
    else:
        key = pl.struct(*codes)
    periods = [state.period_of(text) for text in state.period_codes.ids]
    texts = {
        PER: [
            p.text if p else text for p, text in zip(periods, state.period_codes.ids, strict=True)
        ]
    }
    rows = rows.with_columns(
        key.alias(KEY),
        *(table.lookup(texts.get(alias, table.ids), pl.String(), alias).alias(name)
          for alias, (name, table) in codes.items()),
        state.geography_codes.lookup(state.geography_codes.ids, pl.String(), CON)
        .alias("contributor"),
        state.period_codes.lookup([p.start if p else None for p in periods], pl.Date(), PER)
        .alias("period_start"),
        state.period_codes.lookup([p.end if p else None for p in periods], pl.Date(), PER)
        .alias("period_end"),
    )  # fmt: skip
    if rows[KEY].n_unique() < rows.height:
        rows = _drop_repeats(rows, rows[KEY].is_duplicated(), state)
    return rows.select(OUTPUT_SCHEMA.keys())


def _drop_repeats(rows: pl.DataFrame, duplicated: pl.Series, state: IngestState) -> pl.DataFrame:
    """Keep the first of each repeated point; refuse repeats whose value differs."""
    firsts = {
        "value": FIRST_VALUE, "currency": FIRST_CURRENCY, FILE: FIRST_FILE, ROW: FIRST_ROW,
        "value_as_given": FIRST_VALUE_AS_GIVEN, "unit_as_given": FIRST_UNIT_AS_GIVEN,
        "qualifier": FIRST_QUALIFIER, "contributor": FIRST_CONTRIBUTOR,
    }  # fmt: skip
    repeats = rows.filter(duplicated).with_columns(
        pl.col(column).first().over(KEY).alias(first) for column, first in firsts.items()
    )
    differs = (
        (pl.col("value") != pl.col(FIRST_VALUE))
        | pl.col("currency").ne_missing(pl.col(FIRST_CURRENCY))
        | pl.col("qualifier").ne_missing(pl.col(FIRST_QUALIFIER))
        | pl.col("contributor").ne_missing(pl.col(FIRST_CONTRIBUTOR))
    )
    given = (
        pl.when(pl.col("unit_as_given") != pl.col(FIRST_UNIT_AS_GIVEN))
        .then(pl.format("{} {}", FIRST_VALUE_AS_GIVEN, FIRST_UNIT_AS_GIVEN))
        .otherwise(pl.col(FIRST_VALUE_AS_GIVEN))
    )
    key = pl.format(
        "indicator '{}', initiative '{}', geography '{}', period '{}', source '{}'",
        "indicator", "initiative", "geography", "period", "source",
    )  # fmt: skip
    conflicts = repeats.filter(differs).select(
        FILE, ROW, COL,
        pl.lit("").alias("column"),
        pl.col("value_as_given").alias("found"),
        pl.lit("conflict").alias("kind"),
        pl.format("{}\t{}\t{}\t{}", FIRST_FILE, FIRST_ROW, given, key).alias("detail"),
    )  # fmt: skip
    state.problems.add_cells(conflicts)
    later = (pl.col(FILE) != pl.col(FIRST_FILE)) | (pl.col(ROW) != pl.col(FIRST_ROW))
    dropped = repeats.filter(~differs & later)
    for file_no, count in dropped.group_by(FILE).len().sort(FILE).iter_rows():
        state.warnings.append(
            f"{state.files[file_no]}: {count} row(s) repeat a point given earlier in this call "
            "with the same value; loaded once"
        )
    return rows.filter(~duplicated | rows[KEY].is_first_distinct())

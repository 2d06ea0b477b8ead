"""The private `_`-prefixed columns that pass between the CSV reader and the ingest steps:
each declared once with its dtype and a sentence, and `check_columns`, the one check that a
frame handed from one step to the next holds exactly the private columns declared for it.

Each constant is its column's name upper-cased without the underscore (`IND` is `_ind`).
A frame's other columns (the CSV's own `indicator`, `value`, ...; the batch's `currency`,
`value_as_given`, ...) are the readers' and the store's names and are not declared here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

# --- names ---------------------------------------------------------------------------------

FILE, ROW, COL = "_file", "_row", "_col"
IND, IND_BLANK = "_ind", "_ind_blank"
INI, INI_BLANK = "_ini", "_ini_blank"
GEO, GEO_BLANK = "_geo", "_geo_blank"
CON, CON_BLANK = "_con", "_con_blank"
PER, PER_BLANK = "_per", "_per_blank"
UNIT, UNIT_BLANK = "_unit", "_unit_blank"
SRC, SRC_BLANK = "_src", "_src_blank"
VALUE_TEXT, NOTE, UNIT_TEXT = "_value_text", "_note", "_unit_text"
DIM, MULT, ICUR = "_dim", "_mult", "_icur"
UDIM, USCALE, UCUR, FX = "_udim", "_uscale", "_ucur", "_fx"
NUMBER, VALUE, OVERFLOW, CUR = "_number", "_value", "_overflow", "_cur"
QUAL, QUAL_BAD = "_qual", "_qual_bad"
VALUE_UNIT, VALUE_PROBLEM = "_value_unit", "_value_problem"
OK, KEY = "_ok", "_key"
FIRST_FILE, FIRST_ROW = "_first_file", "_first_row"
FIRST_VALUE, FIRST_CURRENCY = "_first_value", "_first_currency"
FIRST_VALUE_AS_GIVEN, FIRST_UNIT_AS_GIVEN = "_first_value_as_given", "_first_unit_as_given"
FIRST_QUALIFIER, FIRST_CONTRIBUTOR = "_first_qualifier", "_first_contributor"
EXACT, INEXACT = "_exact", "_inexact"
# How values are stored (observations.value, migration 010): 26 digits before the point, 12
# after. A value that needs more is refused, never rounded.
STORED_VALUE = pl.Decimal(38, 12)
STORED_DECIMALS = 12
# Refused from here, tested on the double nearest the scaled value: safely inside the 26
# digits (a double rounds monotonically, so no value at or above it passes).
STORED_LIMIT = 1e25


def _row_index() -> pl.DataType:
    """The dtype polars gives row indexes (UInt32, or UInt64 in its big-index build)."""
    index = pl.get_index_type()
    return index() if isinstance(index, type) else index


ROW_INDEX = _row_index()


@dataclass(frozen=True)
class Column:
    """One private column: its name, its dtype (None: it varies) and what it holds."""

    name: str
    dtype: pl.DataType | None
    meaning: str


# The codes of the id columns index the `Codes` of `ingest.state.IngestState` (shared by all
# files of a call); the `_blank` flags tell an empty cell (defaulted or refused as empty)
# from a text that is not known (refused as unknown).
COLUMNS: tuple[Column, ...] = (
    Column(FILE, pl.Int64(), "Which file of the call the row came from (its place in the list)."),
    Column(ROW, ROW_INDEX, "The row's index in its file's table body, from 0 "
           "(header excluded); `Table.line_of` turns it into the line an editor shows."),
    Column(COL, pl.Int64(), "The header index of the value's cell (in a wide file, its "
           "period column), where a value problem is reported."),
    Column(IND, pl.UInt32(), "The indicator's code; null when blank or unknown."),
    Column(IND_BLANK, pl.Boolean(), "Whether the indicator cell is blank."),
    Column(INI, pl.UInt32(), "The initiative's code, the indicator's default initiative when "
           "blank; null when unknown or blank without a default."),
    Column(INI_BLANK, pl.Boolean(), "Whether the initiative cell is blank (or the column absent)."),
    Column(GEO, pl.UInt32(), "The geography's code, WLD when blank; null when unknown."),
    Column(GEO_BLANK, pl.Boolean(), "Whether the geography cell is blank (or the column absent)."),
    Column(CON, pl.UInt32(), "The contributor's code (a geography's; in the geography "
           "codes); null when blank (the programme as a whole) or unknown."),
    Column(CON_BLANK, pl.Boolean(), "Whether the contributor cell is blank (or the column "
           "absent)."),
    Column(PER, pl.UInt32(), "The period's code (a wide file's period column); null when the "
           "text is not a period."),
    Column(PER_BLANK, pl.Boolean(), "Whether the period cell is blank (never in a wide file)."),
    Column(UNIT, pl.UInt32(), "The unit's code (canonical text 'dimension|base|scale'); null "
           "when blank or not a unit."),
    Column(UNIT_BLANK, pl.Boolean(), "Whether the unit cell is blank (or the column absent)."),
    Column(SRC, pl.UInt32(), "The source's code, --source when blank; null when unknown."),
    Column(SRC_BLANK, pl.Boolean(), "Whether the source cell is blank (or the column absent)."),
    Column(VALUE_TEXT, pl.String(), "The value cell as given, trimmed."),
    Column(NOTE, pl.String(), "The note as given, trimmed; null when empty."),
    Column(UNIT_TEXT, pl.String(), "The unit as given, trimmed; the indicator's unit label "
           "when blank."),
    Column(DIM, pl.UInt8(), "The code of the indicator's dimension (money, power, count)."),
    Column(MULT, pl.Float64(), "The indicator's multiplier (1e9 for USD bn)."),
    Column(ICUR, pl.UInt16(), "The code of the indicator's base currency (its base unit)."),
    Column(UDIM, pl.UInt8(), "The code of the given unit's dimension; null for a bare scale "
           "word or no unit."),
    Column(USCALE, pl.Float64(), "The given unit's scale; null when no unit is given."),
    Column(UCUR, pl.UInt16(), "The code of the given unit's currency; null when it has none."),
    Column(FX, pl.Boolean(), "Whether the given unit's currency has rates in fx_rates."),
    Column(NUMBER, pl.Float64(), "The value text read as a number; null when it is not one."),
    Column(EXACT, pl.String(), "The number as a plain decimal text, exactly as written "
           "('-250.5' for '-250,5' under --decimal ,); null when it is not one."),
    Column(VALUE, STORED_VALUE, "The number in the indicator's unit and multiplier, scaled "
           "in decimal arithmetic (250.5 for '250,5' EUR bn); null when the row has a value "
           "or unit problem."),
    Column(INEXACT, pl.Boolean(), "Whether the value needs more than STORED_DECIMALS "
           "decimals once in the indicator's unit and multiplier."),
    Column(OVERFLOW, pl.Boolean(), "Whether the scaled value reaches STORED_LIMIT (or became "
           "infinite)."),
    Column(CUR, pl.UInt16(), "The code of a money value's currency; null for other dimensions."),
    Column(QUAL, pl.String(), "The qualifier ('approximate', 'more than', 'at least', 'less "
           "than', 'up to') from the value cell or the qualifier column; null when exact."),
    Column(QUAL_BAD, pl.Boolean(), "Whether the qualifier column's text is not a qualifier."),
    Column(VALUE_UNIT, pl.String(), "The unit written in the value cell ('USD bn' from "
           "'$121.8bn'); null when the cell holds none."),
    Column(VALUE_PROBLEM, pl.String(), "Why the value cell is refused (an ambiguous number, a "
           "unit or qualifier its column contradicts, ...); null when it is not."),
    Column(OK, pl.Boolean(), "Whether every code and the value of the row are known (within "
           "`prepare._check_rows` only)."),
    Column(KEY, None, "The point's key (indicator, initiative, geography, period, source) as "
           "one UInt64, or a struct when the codes do not fit (within `prepare._merge` only)."),
    Column(FIRST_FILE, pl.Int64(), "The file of a repeated point's first row."),
    Column(FIRST_ROW, ROW_INDEX, "The row of a repeated point's first row."),
    Column(FIRST_VALUE, STORED_VALUE, "The value of a repeated point's first row."),
    Column(FIRST_CURRENCY, pl.String(), "The currency of a repeated point's first row."),
    Column(FIRST_VALUE_AS_GIVEN, pl.String(), "The value text of a repeated point's first row."),
    Column(FIRST_UNIT_AS_GIVEN, pl.String(), "The unit text of a repeated point's first row."),
    Column(FIRST_QUALIFIER, pl.String(), "The qualifier of a repeated point's first row."),
    Column(FIRST_CONTRIBUTOR, pl.String(), "The contributor of a repeated point's first row."),
)  # fmt: skip
DTYPES: Mapping[str, pl.DataType | None] = {column.name: column.dtype for column in COLUMNS}


def dtype(name: str) -> pl.DataType:
    """The declared dtype of private column `name` (one that has a single dtype)."""
    declared = DTYPES[name]
    if declared is None:
        raise TypeError(f"private column {name} has no single dtype (see its meaning)")
    return declared


# --- what each step hands to the next ------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A hand-over between two ingest steps and the private columns its frame holds."""

    name: str
    columns: tuple[str, ...]


BODY = Step("ingest.csv_text.parse -> ingest.values.values_frame (Table.body)", (ROW,))
RESOLVED = Step(
    "ingest.values.resolve -> report_cell_problems and prepare._check_rows",
    (ROW, COL, VALUE_TEXT, NOTE, IND, IND_BLANK, INI, INI_BLANK, GEO, GEO_BLANK, CON, CON_BLANK,
     PER, PER_BLANK, UNIT, UNIT_BLANK, SRC, SRC_BLANK, DIM, MULT, ICUR, UDIM, USCALE, UCUR, FX,
     NUMBER, EXACT, VALUE, INEXACT, OVERFLOW, CUR, UNIT_TEXT, QUAL, QUAL_BAD, VALUE_UNIT,
     VALUE_PROBLEM),
)  # fmt: skip
CHECKED = Step(
    "ingest.prepare._check_rows -> prepare._merge (one file's valid rows)",
    (FILE, ROW, COL, IND, INI, GEO, CON, PER, SRC),
)


def check_columns(frame: pl.DataFrame, step: Step) -> pl.DataFrame:
    """`frame` itself, once its private (`_`-prefixed) columns are exactly those of `step`,
    each of its declared dtype; AssertionError otherwise: a bug in tracker, not in a file.

    Looks at the schema only, never at the rows.
    """
    schema = frame.schema
    found = [name for name in schema if name.startswith("_")]
    missing = [name for name in step.columns if name not in schema]
    unexpected = [name for name in found if name not in step.columns]
    mistyped = [
        f"{name} is {schema[name]}, declared {DTYPES[name]}"
        for name in step.columns
        if name in schema and DTYPES[name] is not None and schema[name] != DTYPES[name]
    ]
    if missing or unexpected or mistyped:
        raise AssertionError(
            f"{step.name}: the frame's private columns differ from tracker/ingest/columns.py: "
            f"missing {missing or 'none'}; not declared for this step {unexpected or 'none'}; "
            f"wrong dtype: {'; '.join(mistyped) or 'none'}"
        )
    return frame

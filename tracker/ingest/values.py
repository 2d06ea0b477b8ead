"""One file's table of text -> one row per value: ids as codes, the number in its indicator's
unit and multiplier, its currency, and every cell problem found on the way.

Vectorised: each distinct text of a categorical column is resolved once (see
`ingest.state.Codes`), and per-code facts (the indicator's unit, the unit's scale) are mapped
back to rows with `gather`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import polars as pl

from tracker.ingest.columns import (
    COL,
    CON,
    CON_BLANK,
    CUR,
    DIM,
    EXACT,
    FILE,
    FX,
    GEO,
    GEO_BLANK,
    ICUR,
    IND,
    IND_BLANK,
    INEXACT,
    INI,
    INI_BLANK,
    MULT,
    NOTE,
    NUMBER,
    OVERFLOW,
    PER,
    PER_BLANK,
    QUAL,
    QUAL_BAD,
    ROW,
    SRC,
    SRC_BLANK,
    STORED_DECIMALS,
    STORED_LIMIT,
    STORED_VALUE,
    UCUR,
    UDIM,
    UNIT,
    UNIT_BLANK,
    UNIT_TEXT,
    USCALE,
    VALUE,
    VALUE_PROBLEM,
    VALUE_TEXT,
    VALUE_UNIT,
)
from tracker.ingest.csv_text import Table, categories, per_category
from tracker.ingest.figures import QUALIFIERS_ACCEPTED, Figure, qualifier_of, read_figure
from tracker.ingest.state import FISCAL_PENDING, IngestState, unit_alternative, unit_facts
from tracker.models import CONTEXT_INITIATIVE
from tracker.units import COUNT_DIMENSIONS

NO_VALUE_CELLS = ("", "..", "na", "n/a", "-")
DEFAULT_GEOGRAPHY = "WLD"
PERIOD_EXPECTED = (
    "expected a period like 2024, 2024-H1 (H1 2024), 2024-Q3 (Q3 2024), 2024-07 (Jul 2024) or "
    "2024-07-15 (15 Jul 2024)"
)
UNIT_EXPECTED = (
    "expected a unit such as 'USD bn', 'EUR m', 'GW', 'count', 'km', 'Mt', '%', 'pp' or 'TEU'"
)
# A plain number whose dots a decimal-comma locale reads as thousands (1.053 is 1053 in de).
DOTTED_THOUSANDS = r"^[+-]?[0-9]{1,3}(?:\.[0-9]{3})+$"
# A number as a plain decimal text: its digits are the value's, read without a double.
PLAIN_DECIMAL = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


@dataclass(frozen=True)
class Layout:
    """Where each known column is (header index), and for wide files the period columns."""

    columns: dict[str, int]
    periods: dict[int, str]  # wide format: header index -> canonical period
    wide: bool
    delimiter: str = ","  # the file's: in a ','-separated file a comma is no decimal comma


def values_frame(table: Table, layout: Layout, state: IngestState) -> pl.DataFrame:
    """One row per value: `_row`, `_col` (header index of the value) and the known columns;
    a wide file is unpivoted, leaving out cells that say there is no value."""
    known = [pl.col(f"c{i}").alias(name) for name, i in layout.columns.items()]
    if not layout.wide:
        value_column = pl.lit(layout.columns["value"], pl.Int64).alias(COL)
        return table.body.select(ROW, value_column, *known)
    cells = [pl.col(f"c{i}").alias(f"p{i}") for i in layout.periods]
    frame = table.body.select(ROW, *known, *cells)
    index = [ROW, *layout.columns]
    frame = frame.unpivot(on=[f"p{i}" for i in layout.periods], index=index, value_name="value")
    no_value = pl.col("value").str.strip_chars().str.to_lowercase().is_in(NO_VALUE_CELLS)
    frame = frame.filter(pl.col("value").is_not_null() & ~no_value)
    codes = {f"p{i}": state.period_codes.code(p) for i, p in layout.periods.items()}
    return frame.with_columns(
        pl.col("variable").str.slice(1).cast(pl.Int64).alias(COL),
        pl.col("variable").replace_strict(codes, return_dtype=pl.UInt32).alias(PER),
        pl.lit(False).alias(PER_BLANK),
    ).drop("variable")


def _blank(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String)
    return text.is_null() | (text.str.strip_chars() == "")


def resolve(frame: pl.DataFrame, layout: Layout, state: IngestState) -> pl.DataFrame:
    """Add codes for the id columns (blank ones defaulted), the value as a number in the
    indicator's unit and multiplier, its currency, and the texts as given (`RESOLVED`)."""
    frame = frame.with_columns(_code_expressions(frame, state))
    if any(code.startswith(FISCAL_PENDING) for code in state.period_codes.ids):
        frame = frame.with_columns(_fiscal_period_codes(frame, state))
    if not layout.wide and frame[IND_BLANK].any():  # rows with every field blank: skipped
        every = pl.all_horizontal(_blank(name) for name in layout.columns)
        skipped = frame.filter(pl.col(IND_BLANK)).filter(every)[ROW]
        frame = frame.filter(~pl.col(ROW).is_in(skipped.implode()))
    frame = frame.with_columns(
        *_default_expressions(frame, state),
        *_qualifier_column(frame),
        pl.col(VALUE_TEXT).cast(pl.Float64, strict=False).alias(NUMBER),
        _exact_text(frame),
        pl.lit(None, pl.String).alias(VALUE_UNIT),
        pl.lit(None, pl.String).alias(VALUE_PROBLEM),
    )
    frame = _read_figures(frame, layout, state)
    frame = frame.with_columns(*_unit_fact_expressions(state))
    return _with_values(frame.with_columns(_value_expressions(frame, state)))


def _exact_text(frame: pl.DataFrame) -> pl.Expr:
    """The value text as a plain decimal (`EXACT`): itself when it is one (the vectorised
    path every plain number takes); a text polars reads as a finite number otherwise ('1e3')
    through Python's Decimal, once per distinct text. Value cells polars does not read
    ('$121.8bn', '250,5') get theirs from `_read_figures`."""
    text = pl.col(VALUE_TEXT)
    plain = text.str.contains(PLAIN_DECIMAL)
    plain_rows = frame.select(plain.fill_null(True)).to_series()
    if plain_rows.all():  # every value cell a plain decimal (or empty): the usual file
        return text.cast(pl.String).alias(EXACT)
    others = frame.filter(~plain_rows & text.cast(pl.Float64, strict=False).is_finite())
    read: pl.Expr = pl.lit(None, pl.String)
    if others.height:
        mapping = {t: _decimal_text(t) for t in others[VALUE_TEXT].unique().to_list()}
        read = text.replace_strict(mapping, default=None, return_dtype=pl.String)
    return pl.when(plain).then(text).otherwise(read).cast(pl.String).alias(EXACT)


def _decimal_text(text: str) -> str | None:
    try:
        return format(Decimal(text.strip()), "f")
    except InvalidOperation:
        return None


def _qualifier_column(frame: pl.DataFrame) -> list[pl.Expr]:
    """The qualifier column's canonical qualifier (null when blank or absent, or when its
    text is not a qualifier, which `QUAL_BAD` flags)."""
    if "qualifier" not in frame.columns:
        return [pl.lit(None, pl.String).alias(QUAL), pl.lit(False).alias(QUAL_BAD)]
    texts = categories(frame, "qualifier")
    canonical = [qualifier_of(text) for text in texts]
    bad = [bool(text.strip()) and q is None for text, q in zip(texts, canonical, strict=True)]
    return [
        per_category(frame, "qualifier", canonical, pl.String()).alias(QUAL),
        per_category(frame, "qualifier", bad, pl.Boolean()).fill_null(False).alias(QUAL_BAD),
    ]


def _read_figures(frame: pl.DataFrame, layout: Layout, state: IngestState) -> pl.DataFrame:
    """Values that are not plain numbers read as written (`ingest.figures`): each distinct
    (cell, unit column, qualifier column) once, in Python; plain numbers stay vectorised.

    A plain number goes this way too where its reading depends on the locale: under a
    locale whose decimal mark is not '.', and, with no locale given in a file not separated
    by commas, one whose dots could group thousands (1.053).
    """
    text = pl.col(VALUE_TEXT)
    slow = pl.col(NUMBER).is_null()
    reading = state.number_reading(layout.delimiter)
    if reading.locale is not None and state.decimal_symbol(reading.locale) != ".":
        slow = slow | text.str.contains(".", literal=True)
    elif reading.locale is None and layout.delimiter != ",":
        slow = slow | text.str.contains(DOTTED_THOUSANDS)
    slow = slow & text.is_not_null() & (text != "")
    keys = [VALUE_TEXT, UNIT, UNIT_BLANK, QUAL]
    cells = frame.filter(slow).select(ROW, COL, *keys)
    if not cells.height:
        return frame
    figures: dict[str, Figure] = {}
    results: dict[str, list[object]] = {k: [] for k in (NUMBER, QUAL, UNIT, VALUE_UNIT,
                                                           VALUE_PROBLEM)}  # fmt: skip
    distinct = cells.select(keys).unique(maintain_order=True)
    for value_text, unit, unit_blank, column_qualifier in distinct.iter_rows():
        if value_text not in figures:
            figures[value_text] = read_figure(value_text, reading)
        combined = _combine(figures[value_text], unit, unit_blank, column_qualifier, state)
        for name, result in zip(results, combined, strict=True):
            results[name].append(result)
    exact = [None if n is None else format(n, "f") for n in results[NUMBER]]
    read = distinct.with_columns(
        pl.Series(NUMBER, [None if e is None else float(e) for e in exact], pl.Float64),
        pl.Series(EXACT, exact, pl.String),
        pl.Series("read_qualifier", results[QUAL], pl.String),
        pl.Series("read_unit", results[UNIT], pl.UInt32),
        pl.Series(VALUE_UNIT, results[VALUE_UNIT], pl.String),
        pl.Series(VALUE_PROBLEM, results[VALUE_PROBLEM], pl.String),
    )
    updates = cells.join(read, on=keys, how="left", nulls_equal=True).select(
        ROW, COL, NUMBER, EXACT,
        pl.col("read_qualifier").alias(QUAL), pl.col("read_unit").alias(UNIT),
        VALUE_UNIT,
        VALUE_PROBLEM,
    )  # fmt: skip
    return frame.update(updates, on=[ROW, COL], include_nulls=True)


def _combine(
    figure: Figure,
    unit: int | None,
    unit_blank: bool,
    column_qualifier: str | None,
    state: IngestState,
) -> tuple[Decimal | None, str | None, int | None, str | None, str | None]:
    """(number, qualifier, unit code, unit in the cell, problem) of one value cell read
    with its row's unit and qualifier columns; a cell and a column that disagree are
    refused, naming both."""
    if figure.problem is not None:
        return None, column_qualifier, unit, None, figure.problem
    qualifier = figure.qualifier or column_qualifier
    if figure.qualifier and column_qualifier and figure.qualifier != column_qualifier:
        return None, column_qualifier, unit, None, (
            f"the value says '{figure.qualifier}' but column 'qualifier' says "
            f"'{column_qualifier}'; give the qualifier once, or make them agree"
        )  # fmt: skip
    if figure.unit is None:
        return figure.number, qualifier, unit, None, None
    cell_unit = state.unit_codes.resolve_text(figure.unit)
    if cell_unit is None:
        return None, qualifier, unit, None, (
            f"'{figure.unit}' after the number is not a unit; expected an amount such as "
            "121.8, $121.8bn, USD 121.8 billion, €300 bn, 156 GW or 340 deals"
        )  # fmt: skip
    if unit_blank or unit is None:
        return figure.number, qualifier, cell_unit, figure.unit, None
    merged = _same_unit(state.unit_codes.ids[cell_unit], state.unit_codes.ids[unit])
    if merged is None:
        column = state.unit_codes.ids[unit]
        return None, qualifier, unit, None, (
            f"the value gives the unit '{figure.unit}' but column 'unit' says "
            f"'{_unit_label(column)}'; give the unit once, or make them agree"
        )  # fmt: skip
    return figure.number, qualifier, state.unit_codes.code(merged), figure.unit, None


def _same_unit(cell: str, column: str) -> str | None:
    """The unit both mean (canonical 'dimension|base|scale'), or None when they differ; a
    bare scale word ('bn') agrees with a full unit of its scale ('USD bn')."""
    (cell_dim, _, cell_scale), (col_dim, _, col_scale) = unit_facts(cell), unit_facts(column)
    if cell == column or (cell_scale == col_scale and not (cell_dim and col_dim)):
        return cell if cell_dim else column
    return None


def _unit_label(canonical: str) -> str:
    from tracker.units import Unit

    dimension, base, scale = unit_facts(canonical)
    if dimension is None or base is None:
        return {1e3: "thousand", 1e6: "million", 1e9: "billion", 1e12: "trillion"}.get(
            scale, f"x{scale:g}"
        )
    return Unit(dimension, base, scale).label


def _code_expressions(frame: pl.DataFrame, state: IngestState) -> list[pl.Expr]:
    """The texts as given (value, note), and each id column's code and blank flag; an
    absent column's code is null and its flag true."""
    resolvers = {
        "indicator": (state.indicator_codes, IND, IND_BLANK),
        "initiative": (state.initiative_codes, INI, INI_BLANK),
        "geography": (state.geography_codes, GEO, GEO_BLANK),
        "contributor": (state.geography_codes, CON, CON_BLANK),
        "period": (state.period_codes, PER, PER_BLANK),
        "unit": (state.unit_codes, UNIT, UNIT_BLANK),
        "source": (state.source_codes, SRC, SRC_BLANK),
    }
    note = pl.col("note").str.strip_chars() if "note" in frame.columns else pl.lit(None)
    columns: list[pl.Expr] = [
        pl.col("value").str.strip_chars().alias(VALUE_TEXT),
        pl.when(note != "").then(note).cast(pl.String).alias(NOTE),
    ]
    for name, (codes, code, blank) in resolvers.items():
        if name in frame.columns:
            columns += codes.expressions(frame, name, code, blank)
        elif code not in frame.columns:  # a wide file's period codes are already there
            columns += [pl.lit(None, pl.UInt32).alias(code), pl.lit(True).alias(blank)]
    return columns


def fiscal_pending(state: IngestState) -> pl.Expr:
    """Whether the row's period is a fiscal-year label its indicator could not date."""
    pending = [code.startswith(FISCAL_PENDING) for code in state.period_codes.ids]
    return state.period_codes.lookup(pending, pl.Boolean(), PER).fill_null(False)


def _fiscal_period_codes(frame: pl.DataFrame, state: IngestState) -> pl.Expr:
    """Fiscal-year labels ('FY2025') given dates by each row's indicator: one lookup per
    distinct (indicator, label); a label the indicator cannot date keeps its pending code."""
    pending = fiscal_pending(state)
    pairs = frame.filter(pending & pl.col(IND).is_not_null()).select(IND, PER).unique()
    key = pl.col(IND).cast(pl.UInt64) * 2**32 + pl.col(PER).cast(pl.UInt64)
    dated: dict[int, int] = {}
    for indicator, period in pairs.iter_rows():
        code = state.fiscal_code(state.indicator_codes.ids[indicator],
                                 state.period_codes.ids[period])  # fmt: skip
        if code is not None:
            dated[indicator * 2**32 + period] = code
    resolved = key.replace_strict(dated, default=pl.col(PER), return_dtype=pl.UInt32)
    return pl.when(pending).then(resolved).otherwise(pl.col(PER)).alias(PER)


def _default_expressions(frame: pl.DataFrame, state: IngestState) -> list[pl.Expr]:
    """Blank initiatives, geographies and sources filled with their defaults: the
    indicator's default initiative, WLD, --source (only where some are blank)."""
    catalog = state.catalog
    indicators = [catalog.indicators[i] for i in state.indicator_codes.ids]
    defaults = [state.initiative_codes.code(CONTEXT_INITIATIVE) if i.context
                else state.initiative_codes.code(i.default_initiative) if i.default_initiative
                else None for i in indicators]  # fmt: skip
    world = state.geography_codes.code(catalog.geographies.get("wld", DEFAULT_GEOGRAPHY))
    filled = {
        (INI, INI_BLANK): state.indicator_codes.lookup(defaults, pl.UInt32(), IND),
        (GEO, GEO_BLANK): pl.lit(world, pl.UInt32),
        (SRC, SRC_BLANK): pl.lit(state.default_source, pl.UInt32),
    }
    return [
        pl.when(pl.col(blank)).then(default).otherwise(code).alias(code)
        for (code, blank), default in filled.items()
        if frame[blank].any()
    ]


def _unit_fact_expressions(state: IngestState) -> list[pl.Expr]:
    """Per row, the facts of the indicator's unit (dimension, multiplier, currency) and of
    the unit given (dimension, scale, currency, whether it has exchange rates)."""
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    facts = [unit_facts(u) for u in state.unit_codes.ids]
    by_indicator, by_unit = state.indicator_codes.lookup, state.unit_codes.lookup
    currencies = state.catalog.currencies
    indicator_dimension = by_indicator([state.dimension_code(u.dimension) for u in units],
                                       pl.UInt8(), IND)  # fmt: skip
    given_dimension = by_unit([state.dimension_code(f[0]) if f[0] else None for f in facts],
                              pl.UInt8(), UNIT)  # fmt: skip
    given_scale = by_unit([f[2] for f in facts], pl.Float64(), UNIT)
    others = [unit_alternative(u) for u in state.unit_codes.ids]
    if any(others):  # 'm' for an indicator that is neither money nor a count: a metre
        scalable = [state.dimension_code(d) for d in sorted({"money", *COUNT_DIMENSIONS})]
        other = by_unit([o is not None for o in others], pl.Boolean(), UNIT).fill_null(False)
        use_other = other & ~indicator_dimension.is_in(scalable)
        other_dimension = [state.dimension_code(o[0]) if o else None for o in others]
        given_dimension = (
            pl.when(use_other)
            .then(by_unit(other_dimension, pl.UInt8(), UNIT))
            .otherwise(given_dimension)
        )
        given_scale = (
            pl.when(use_other)
            .then(by_unit([o[1] if o else None for o in others], pl.Float64(), UNIT))
            .otherwise(given_scale)
        )
    return [
        indicator_dimension.alias(DIM),
        by_indicator([u.scale for u in units], pl.Float64(), IND).alias(MULT),
        by_indicator([state.currency_code(u.base) for u in units], pl.UInt16(), IND)
        .alias(ICUR),
        given_dimension.alias(UDIM),
        given_scale.alias(USCALE),
        by_unit([state.currency_code(f[1]) if f[1] else None for f in facts], pl.UInt16(), UNIT)
        .alias(UCUR),
        by_unit([f[1] in currencies for f in facts], pl.Boolean(), UNIT).alias(FX),
    ]  # fmt: skip


def _value_expressions(frame: pl.DataFrame, state: IngestState) -> list[pl.Expr]:
    """The number scaled to the indicator's multiplier where its unit fits (else null),
    whether scaling overflowed, a money value's currency, and the unit text as given."""
    number, dimension = pl.col(NUMBER), pl.col(DIM)
    money = state.dimension_code("money")
    unit_ok = (
        (pl.col(UNIT_BLANK) | pl.col(UNIT).is_not_null())
        & (pl.col(UDIM).is_null() | _fits(state))
        & ((pl.col(UDIM) != money) | pl.col(FX)).fill_null(True)
        & ~_bare_scale_refused(state)
    )
    value = number
    if not frame[USCALE].is_null().all():  # some unit given: scale to the multiplier
        value = number * pl.coalesce(pl.col(USCALE), pl.col(MULT)) / pl.col(MULT)
    # The double `value` only bounds the size (1e308 thousand overflows); the value stored is
    # scaled in decimals, below and in `_with_values`.
    storable = value.is_finite() & (value.abs() < STORED_LIMIT)
    ok = storable & unit_ok & dimension.is_not_null() & pl.col(EXACT).is_not_null()
    factor, places = _factors(frame)
    # digits after the point of the plain decimal text, trailing zeros included: an upper
    # bound of its decimals, cheap on a million rows (string lengths, no regex); a row it
    # puts over the limit (1.5000000000000, rare) is decided exactly by `_with_values`
    exact = pl.col(EXACT)
    decimals = (exact.str.len_chars() - exact.str.find(".", literal=True) - 1).fill_null(0)
    # A factor of 10^-k moves the point: the product has exactly decimals + k decimals. For
    # any other factor that sum only bounds them; `_with_values` decides those rows exactly.
    simple = ok & ((decimals.cast(pl.Int64) + places) <= STORED_DECIMALS)
    stored = pl.when(simple).then(pl.col(EXACT)).cast(STORED_VALUE, strict=False)
    if factor is not None:  # some rows are given in another scale than their indicator's
        stored = (stored * factor).cast(STORED_VALUE)
    return [
        stored.alias(VALUE),
        (ok & ~simple).fill_null(False).alias(INEXACT),
        (number.is_finite() & ~storable & unit_ok).fill_null(False).alias(OVERFLOW),
        pl.when(dimension == money).then(pl.coalesce(UCUR, ICUR)).alias(CUR),
        _unit_text_or_value_unit(frame, state).alias(UNIT_TEXT),
    ]


def _factors(frame: pl.DataFrame) -> tuple[pl.Expr | None, pl.Expr]:
    """(factor, its decimals) that scale a value in its given unit to its indicator's
    multiplier, one per distinct (scale, multiplier): EUR bn to EUR bn 1 (0 decimals), USD m
    to USD bn 0.001 (3). A factor that is not a power of ten, or no finite decimal (TJ to
    GWh is 1/3.6), counts as more decimals than the store keeps: `_with_values` scales its
    rows exactly or refuses them. The factor is None when every row is given in its
    indicator's own multiplier (no multiplication at all: the common case)."""
    factor: pl.Expr = _decimal_literal(Decimal(1))
    places: pl.Expr = pl.lit(0, pl.Int64)
    scaled = False
    differ = (pl.col(USCALE) != pl.col(MULT)).fill_null(False)
    if not frame.select(differ.any()).item():  # every row in its indicator's multiplier
        return None, places
    for scale, multiplier in frame.filter(differ).select(USCALE, MULT).unique().iter_rows():
        if scale is None or multiplier is None or scale == multiplier:
            continue
        scaled = True
        exact = _scaling(scale, multiplier)
        k = len(str(exact.denominator)) - 1
        power = exact.numerator == 1 and exact.denominator == 10**k  # 10^-k: moves the point
        same = (pl.col(USCALE) == scale) & (pl.col(MULT) == multiplier)
        if power and k <= STORED_DECIMALS:
            places = pl.when(same).then(pl.lit(k, pl.Int64)).otherwise(places)
            factor = pl.when(same).then(_decimal_literal(Decimal(1).scaleb(-k))).otherwise(factor)
        elif exact.denominator == 1 and exact.numerator < 10**26:
            factor = (
                pl.when(same).then(_decimal_literal(Decimal(exact.numerator))).otherwise(factor)
            )
        else:
            places = pl.when(same).then(pl.lit(STORED_DECIMALS + 1, pl.Int64)).otherwise(places)
    return (factor if scaled else None), places


def _decimal_literal(value: Decimal) -> pl.Expr:
    """`value` as a DECIMAL(38, 12) literal, made from its text: a literal made from a Decimal
    object loads numpy (about 0.1 s of every ingest's start)."""
    return pl.lit(format(value, "f")).cast(STORED_VALUE)


def _scaling(scale: float, multiplier: float) -> Fraction:
    """The exact ratio of a unit's scale to a multiplier, both read as the decimals they
    were written as (1609.344, 1e9), not as the binary doubles holding them."""
    return Fraction(Decimal(repr(scale))) / Fraction(Decimal(repr(multiplier)))


def _with_values(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the rows `INEXACT` flags decided exactly (in fractions, once per distinct
    value and scaling): stored when the scaled value has at most STORED_DECIMALS decimals
    (1.5 mi is 2.414016 km), else left flagged, to be refused."""
    hard = frame.filter(pl.col(INEXACT))
    if not hard.height:
        return frame
    keys = [EXACT, USCALE, MULT]
    decided = hard.select(keys).unique()
    values: list[Decimal | None] = []
    for text, scale, multiplier in decided.iter_rows():
        scaled = Fraction(Decimal(text))
        if scale is not None and multiplier is not None:
            scaled *= _scaling(scale, multiplier)
        units = scaled * 10**STORED_DECIMALS
        values.append(
            Decimal(units.numerator).scaleb(-STORED_DECIMALS) if units.denominator == 1 else None
        )
    texts = [None if value is None else format(value, "f") for value in values]
    # from text, as `_decimal_literal` does: a Series of Decimal objects loads numpy
    decided = decided.with_columns(pl.Series("decided_value", texts, pl.String).cast(STORED_VALUE))
    joined = frame.join(decided, on=keys, how="left", nulls_equal=True, maintain_order="left")
    exact = pl.col(INEXACT) & pl.col("decided_value").is_not_null()
    return joined.with_columns(
        pl.when(exact).then(pl.col("decided_value")).otherwise(pl.col(VALUE)).alias(VALUE),
        (pl.col(INEXACT) & ~exact).alias(INEXACT),
    ).drop("decided_value")


def _fits(state: IngestState) -> pl.Expr:
    """Whether the given unit converts to the indicator's: the same dimension, or a plain
    count for a count of something (see tracker.units.fits)."""
    counts = [state.dimension_code(d) for d in sorted(COUNT_DIMENSIONS)]
    plain_count = state.dimension_code("count")
    udim, dim = pl.col(UDIM), pl.col(DIM)
    return (udim == dim) | ((udim == plain_count) & dim.is_in(counts))


def _bare_scale_refused(state: IngestState) -> pl.Expr:
    """A bare scale word ('m', 'thousand') for an indicator that is neither money nor a
    count: refused, as 'm' could be a metre and 'million' of what is unclear."""
    scalable = [state.dimension_code(d) for d in sorted({"money", *COUNT_DIMENSIONS})]
    bare = pl.col(UDIM).is_null() & pl.col(USCALE).is_not_null()
    return (bare & ~pl.col(DIM).is_in(scalable)).fill_null(False)


def _unit_text(frame: pl.DataFrame, state: IngestState) -> pl.Expr:
    """The unit as given, trimmed; the indicator's unit label where none is given."""
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    labels = state.indicator_codes.lookup([u.label for u in units], pl.String(), IND)
    if "unit" not in frame.columns:
        return labels
    texts = [t.strip() for t in categories(frame, "unit")]
    unit_text = per_category(frame, "unit", texts, pl.String())
    if frame[UNIT_BLANK].any():
        unit_text = pl.when(pl.col(UNIT_BLANK)).then(labels).otherwise(unit_text)
    return unit_text


def _unit_text_or_value_unit(frame: pl.DataFrame, state: IngestState) -> pl.Expr:
    """The unit as given: the unit column's, or the value cell's where that column is blank."""
    unit_text = _unit_text(frame, state)
    if frame[VALUE_UNIT].is_null().all():
        return unit_text
    from_value = pl.col(UNIT_BLANK) & pl.col(VALUE_UNIT).is_not_null()
    return pl.when(from_value).then(pl.col(VALUE_UNIT)).otherwise(unit_text)


# --- problems ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellCheck:
    """Rows where `bad` holds have a problem in `column`: its kind ('empty', 'unknown',
    'text') and detail (what is expected, or the kind of name), as `ingest.prepare` words them."""

    bad: pl.Expr
    column: str
    kind: pl.Expr | str
    detail: pl.Expr | str


def report_cell_problems(
    frame: pl.DataFrame, table: Table, layout: Layout, state: IngestState
) -> None:
    """Every problem in the rows of one file, as frames of cells (see ingest.state.Problems)."""
    checks = [*_id_checks(state), *_value_checks(state), *_unit_checks(state), _source_check()]
    headers = {i: h.strip() for i, h in enumerate(table.header)}
    for check in checks:
        bad = frame.filter(check.bad)
        if bad.height:
            state.problems.add_cells(_cells(bad, check, table, layout, headers))


def _cells(
    bad: pl.DataFrame, check: CellCheck, table: Table, layout: Layout, headers: dict[int, str]
) -> pl.DataFrame:
    """The problem cells of the rows in `bad` (CELL_SCHEMA)."""
    column = check.column
    if layout.wide and column != "value":  # once per row, not once per period cell
        bad = bad.unique(ROW, keep="first", maintain_order=True)
    found: pl.Expr = pl.lit(None, pl.String)
    if column == "value":  # in a wide file, the period column of the cell
        name = pl.col(COL).replace_strict(headers, default="value", return_dtype=pl.String)
        index, found = pl.col(COL), pl.col(VALUE_TEXT)
    else:
        name, index = pl.lit(column), pl.lit(layout.columns.get(column, -1))
        if column in bad.columns:
            found = pl.col(column).cast(pl.String).str.strip_chars()
    kind, detail = check.kind, check.detail
    return bad.select(
        pl.lit(table.file_no).alias(FILE),
        ROW,
        index.alias(COL),
        name.alias("column"),
        found.alias("found"),
        (kind if isinstance(kind, pl.Expr) else pl.lit(kind)).alias("kind"),
        (detail if isinstance(detail, pl.Expr) else pl.lit(detail)).alias("detail"),
    )


def _empty_or(blank: str, empty: str, otherwise: str, detail: str) -> tuple[pl.Expr, pl.Expr]:
    """(kind, detail): 'empty' and what is expected where `blank` holds, else the others."""
    is_blank = pl.col(blank)
    return (
        pl.when(is_blank).then(pl.lit("empty")).otherwise(pl.lit(otherwise)),
        pl.when(is_blank).then(pl.lit(empty)).otherwise(pl.lit(detail)),
    )


def _id_checks(state: IngestState) -> list[CellCheck]:
    """Indicator, initiative, geography and period: blank where required, or unknown."""
    known = pl.col(IND).is_not_null()
    initiatives = ", ".join(sorted(state.catalog.initiatives - {CONTEXT_INITIATIVE}))
    names = state.indicator_codes.lookup(state.indicator_codes.ids, pl.String(), IND)
    is_context = state.indicator_codes.lookup(
        [state.catalog.indicators[i].context for i in state.indicator_codes.ids], pl.Boolean(), IND
    )
    context = state.initiative_codes.code(CONTEXT_INITIATIVE)
    given = known & pl.col(INI).is_not_null()
    no_default = pl.format(
        "one of {} (indicator '{}' has no default initiative)",
        pl.lit(initiatives),
        state.indicator_codes.lookup(state.indicator_codes.ids, pl.String(), IND),
    )
    period = PERIOD_EXPECTED.removeprefix("expected ")
    fiscal = [state.fiscal_refusal(i) for i in state.indicator_codes.ids]
    return [
        CellCheck(~known, "indicator", *_empty_or(IND_BLANK, "an indicator id", "unknown",
                                                  "indicator")),
        CellCheck(
            known & pl.col(INI).is_null(),
            "initiative",
            pl.when(pl.col(INI_BLANK)).then(pl.lit("empty")).otherwise(pl.lit("unknown")),
            pl.when(pl.col(INI_BLANK)).then(no_default).otherwise(pl.lit("initiative")),
        ),
        CellCheck(
            given & is_context & (pl.col(INI) != context),
            "initiative",
            "text",
            pl.format("expected nothing: indicator '{}' is a context figure of no programme "
                      "(context = true); leave the initiative empty", names),
        ),
        CellCheck(
            given & ~is_context & (pl.col(INI) == context),
            "initiative",
            "text",
            pl.format("expected a programme: {} is only for context indicators, and "
                      "indicator '{}' is not one", pl.lit(CONTEXT_INITIATIVE), names),
        ),
        CellCheck(pl.col(GEO).is_null(), "geography", "unknown", "geography"),
        # a contributor is a geography (the US's part of PGII: USA); blank: the whole programme
        CellCheck(pl.col(CON).is_null() & ~pl.col(CON_BLANK), "contributor", "unknown",
                  "geography"),
        CellCheck(pl.col(PER).is_null(), "period",
                  *_empty_or(PER_BLANK, period, "text", PERIOD_EXPECTED)),
        CellCheck(known & fiscal_pending(state), "period", "text",
                  state.indicator_codes.lookup(fiscal, pl.String(), IND)),
    ]  # fmt: skip


def _value_checks(state: IngestState) -> list[CellCheck]:
    """The value: empty, not a number, not finite, too large once converted."""
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    labels = state.indicator_codes.lookup([u.label for u in units], pl.String(), IND)
    value_blank = pl.col(VALUE_TEXT).is_null() | (pl.col(VALUE_TEXT) == "")
    infinite = pl.col(NUMBER).is_not_null() & ~pl.col(NUMBER).is_finite()
    too_large = pl.format(
        "too large once converted to the indicator's unit '{}': values are stored exactly, "
        "with at most 25 digits before the point",
        labels,
    )
    too_precise = pl.format(
        "more decimals than can be stored exactly once converted to the indicator's unit "
        "'{}': at most {} after the point. Figures are stored as entered, never rounded; "
        "round it yourself if that is what you mean",
        labels,
        pl.lit(STORED_DECIMALS),
    )
    read = pl.col(VALUE_PROBLEM).is_null()
    return [
        CellCheck(value_blank, "value", "empty", "a number (leave out rows without a value)"),
        CellCheck(~read, "value", "text", pl.col(VALUE_PROBLEM)),
        CellCheck(
            ~value_blank & read & pl.col(NUMBER).is_null(), "value", "text", "expected a number"
        ),
        CellCheck(pl.col(QUAL_BAD), "qualifier", "text", f"expected {QUALIFIERS_ACCEPTED}"),
        CellCheck(infinite, "value", "text", "expected a finite number"),
        CellCheck(pl.col(OVERFLOW), "value", "text", too_large),
        CellCheck(pl.col(INEXACT), "value", "text", too_precise),
    ]


def _unit_checks(state: IngestState) -> list[CellCheck]:
    """The unit: not a unit, of another dimension than the indicator's, or a currency
    without exchange rates."""
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    by_indicator = state.indicator_codes.lookup
    labels = by_indicator([u.label for u in units], pl.String(), IND)
    known = pl.col(IND).is_not_null()
    mismatch = pl.col(UDIM).is_not_null() & ~_fits(state)
    dimension_names = by_indicator([u.dimension for u in units], pl.String(), IND)
    given_names = pl.lit(pl.Series(list(state.dimensions), dtype=pl.String)).gather(pl.col(UDIM))
    detail = pl.format(
        "a unit of {}, which cannot be converted to the indicator's unit '{}' (a unit of {}); "
        "expected a unit of {}",
        given_names, labels, dimension_names, dimension_names,
    )  # fmt: skip
    bare = pl.format(
        "a bare scale word, which says no unit for the indicator's unit '{}' (a unit of {}); "
        "expected the unit itself, such as '{}'",
        labels, dimension_names, labels,
    )  # fmt: skip
    no_rate = pl.format(
        "no exchange rate for {} in fx_rates; add its rates to data/reference/fx_rates.csv "
        "or give the value in USD",
        pl.lit(pl.Series(state.currencies, dtype=pl.String)).gather(pl.col(UCUR)),
    )
    money = state.dimension_code("money")
    no_fx = known & ~mismatch & (pl.col(UDIM) == money) & ~pl.col(FX)
    # A unit written in the value cell ($121.8bn) is reported on the value column.
    in_value = pl.col(UNIT_BLANK) & pl.col(VALUE_UNIT).is_not_null()
    return [
        CellCheck(~pl.col(UNIT_BLANK) & pl.col(UNIT).is_null(), "unit", "text", UNIT_EXPECTED),
        CellCheck(known & mismatch & ~in_value, "unit", "text", detail),
        CellCheck(known & _bare_scale_refused(state) & ~in_value, "unit", "text", bare),
        CellCheck(no_fx & ~in_value, "unit", "text", no_rate),
        CellCheck(known & mismatch & in_value, "value", "text", detail),
        CellCheck(known & _bare_scale_refused(state) & in_value, "value", "text", bare),
        CellCheck(no_fx & in_value, "value", "text", no_rate),
    ]  # fmt: skip


def _source_check() -> CellCheck:
    """The source: blank without --source, or unknown."""
    expected = "a source id from data/reference/sources.csv or a citation (or give --source)"
    kind, detail = _empty_or(SRC_BLANK, expected, "unknown", "source")
    return CellCheck(pl.col(SRC).is_null(), "source", kind, detail)

"""One file's table of text -> one row per value: ids as codes, the number in its indicator's
unit and multiplier, its currency, and every cell problem found on the way.

Vectorised: each distinct text of a categorical column is resolved once (see
`ingest.state.Codes`), and per-code facts (the indicator's unit, the unit's scale) are mapped
back to rows with `gather`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracker.ingest.csv_text import Table, categories, per_category
from tracker.ingest.state import IngestState, unit_facts

NO_VALUE_CELLS = ("", "..", "na", "n/a", "-")
DEFAULT_GEOGRAPHY = "WLD"
PERIOD_EXPECTED = "expected a period like 2024, 2024-H1, 2024-Q3, 2024-07 or 2024-07-15"
UNIT_EXPECTED = "expected a unit such as 'USD bn', 'EUR m', 'GW', 'MW' or 'count'"
THOUSANDS = r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"


@dataclass(frozen=True)
class Layout:
    """Where each known column is (header index), and for wide files the period columns."""

    columns: dict[str, int]
    periods: dict[int, str]  # wide format: header index -> canonical period
    wide: bool


def values_frame(table: Table, layout: Layout, state: IngestState) -> pl.DataFrame:
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
    codes = {f"p{i}": state.period_codes.code(p) for i, p in layout.periods.items()}
    return frame.with_columns(
        pl.col("variable").str.slice(1).cast(pl.Int64).alias("_col"),
        pl.col("variable").replace_strict(codes, return_dtype=pl.UInt32).alias("_per"),
        pl.lit(False).alias("_per_blank"),
    ).drop("variable")


def _blank(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String)
    return text.is_null() | (text.str.strip_chars() == "")


def resolve(frame: pl.DataFrame, layout: Layout, state: IngestState) -> pl.DataFrame:
    """Add codes for the id columns (blank ones defaulted), the value as a number in the
    indicator's unit and multiplier, its currency, and the texts as given."""
    catalog = state.catalog
    resolvers = {
        "indicator": (state.indicator_codes, "_ind"),
        "initiative": (state.initiative_codes, "_ini"),
        "geography": (state.geography_codes, "_geo"),
        "period": (state.period_codes, "_per"),
        "unit": (state.unit_codes, "_unit"), "source": (state.source_codes, "_src"),
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

    indicators = [catalog.indicators[i] for i in state.indicator_codes.ids]
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    facts = [unit_facts(u) for u in state.unit_codes.ids]
    by_indicator, by_unit = state.indicator_codes.lookup, state.unit_codes.lookup
    defaults = [state.initiative_codes.code(i.default_initiative) if i.default_initiative else None
                for i in indicators]  # fmt: skip
    world = state.geography_codes.code(catalog.geographies.get("wld", DEFAULT_GEOGRAPHY))
    filled = {
        "_ini": by_indicator(defaults, pl.UInt32(), "_ind"),
        "_geo": pl.lit(world, pl.UInt32),
        "_src": pl.lit(state.default_source, pl.UInt32),
    }
    money = state.dimension_code("money")
    frame = frame.with_columns(
        *(
            pl.when(pl.col(f"{alias}_blank")).then(default).otherwise(alias).alias(alias)
            for alias, default in filled.items()
            if frame[f"{alias}_blank"].any()
        ),
        by_indicator([state.dimension_code(u.dimension) for u in units], pl.UInt8(), "_ind")
        .alias("_dim"),
        by_indicator([u.scale for u in units], pl.Float64(), "_ind").alias("_mult"),
        by_indicator([state.currency_code(u.base) for u in units], pl.UInt16(), "_ind")
        .alias("_icur"),
        by_unit([state.dimension_code(f[0]) if f[0] else None for f in facts], pl.UInt8(), "_unit")
        .alias("_udim"),
        by_unit([f[2] for f in facts], pl.Float64(), "_unit").alias("_uscale"),
        by_unit([state.currency_code(f[1]) if f[1] else None for f in facts], pl.UInt16(), "_unit")
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
        texts = [t.strip() for t in categories(frame, "unit")]
        unit_text = per_category(frame, "unit", texts, pl.String())
        if frame["_unit_blank"].any():
            unit_text = pl.when(pl.col("_unit_blank")).then(labels).otherwise(unit_text)
    finite = value.is_finite()  # a finite number can overflow when scaled (1e308 thousand)
    return frame.with_columns(
        pl.when(finite & unit_ok & dimension.is_not_null()).then(value).alias("_value"),
        (number.is_finite() & ~finite & unit_ok).fill_null(False).alias("_overflow"),
        pl.when(dimension == money).then(pl.coalesce("_ucur", "_icur")).alias("_cur"),
        unit_text.alias("_unit_text"),
    )


def _parse_numbers(text: pl.Series) -> pl.Series:
    """Numbers as written ('121.8', '-3', '1e3', '1,234.5'); null when not a number."""
    if text.str.contains(",", literal=True).any():
        grouped = text.str.contains(THOUSANDS)
        text = text.zip_with(~grouped, text.str.replace_all(",", "", literal=True))
    return text.cast(pl.Float64, strict=False)


def report_cell_problems(
    frame: pl.DataFrame, table: Table, layout: Layout, state: IngestState
) -> None:
    """Every problem in the rows of one file, as frames of cells (see ingest.state.Problems)."""
    units = [state.indicator_units[i] for i in state.indicator_codes.ids]
    by_indicator = state.indicator_codes.lookup
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
        state.problems.add_cells(
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
    initiatives = ", ".join(sorted(state.catalog.initiatives))
    no_default = pl.format(
        "one of {} (indicator '{}' has no default initiative)",
        pl.lit(initiatives),
        by_indicator(state.indicator_codes.ids, pl.String(), "_ind"),
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
    labels = by_indicator([u.label for u in units], pl.String(), "_ind")
    too_large = pl.format("too large once converted to the indicator's unit '{}'", labels)
    add(pl.col("_overflow"), "value", "text", too_large)
    add(~pl.col("_unit_blank") & pl.col("_unit").is_null(), "unit", "text", UNIT_EXPECTED)
    mismatch = pl.col("_udim").is_not_null() & (pl.col("_udim") != pl.col("_dim"))
    dimension_names = by_indicator([u.dimension for u in units], pl.String(), "_ind")
    detail = pl.format("expected a {} unit like the indicator's '{}'", dimension_names, labels)
    add(known & mismatch, "unit", "text", detail)
    no_rate = pl.format(
        "no exchange rate for {} in fx_rates; add its rates to data/reference/fx_rates.csv "
        "or give the value in USD",
        pl.lit(pl.Series(state.currencies, dtype=pl.String)).gather(pl.col("_ucur")),
    )
    money = state.dimension_code("money")
    add(known & ~mismatch & (pl.col("_udim") == money) & ~pl.col("_fx"), "unit", "text", no_rate)
    source = "a source id from data/reference/sources.csv or a citation (or give --source)"
    add(pl.col("_src").is_null(), "source", *if_blank("_src_blank", source, "unknown", "source"))

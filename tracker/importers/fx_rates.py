"""ECB euro reference rates (EXR: units of CURRENCY per euro) -> annual US dollar rates.

For each currency and year, the rate is made at the first frequency that holds a whole
year of both the currency and the US dollar against the euro:
- A: the ECB's own annual average (the mean of its daily rates);
- D: the mean of the daily rates (at least MIN_DAILY, from January to December);
- M: the mean of the 12 monthly averages (which weighs each month alike, so it may differ
  from the ECB's annual average in the 4th decimal: USD 2019, 1.1196 against 1.1195).
US dollars per unit = (USD per EUR) / (CURRENCY per EUR), both of that frequency and year;
for the euro itself, USD per EUR. The row's note says which figures it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracker.store import FxRate

FREQUENCIES = ("A", "D", "M")  # in the order they are preferred
MIN_DAILY = 200  # ECB reference rates are published on about 255 TARGET days a year
EXR_COLUMNS = ("currency", "frequency", "period", "value", "series")


@dataclass(frozen=True)
class AnnualRates:
    """The rates made, and the currency-years of the files for which none could be."""

    rates: list[FxRate]
    not_made: list[str]  # 'NZD 2013: 2 daily rates, not a whole year'


def _annual(observations: pl.DataFrame) -> pl.DataFrame:
    """One value per (currency, frequency, year) that covers a whole year, with its text."""
    frame = observations.with_columns(
        pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("year"),
        pl.col("period").str.slice(0, 10).alias("day"),
    )
    grouped = frame.group_by("currency", "frequency", "year").agg(
        pl.col("value").mean().alias("mean"),
        pl.col("value").first().alias("first"),
        pl.len().alias("count"),
        pl.col("period").n_unique().alias("periods"),
        pl.col("day").min().alias("from"),
        pl.col("day").max().alias("to"),
        pl.col("series").first().alias("series"),
    )
    whole = (
        ((pl.col("frequency") == "A") & (pl.col("count") == 1))
        | ((pl.col("frequency") == "M") & (pl.col("periods") == 12) & (pl.col("count") == 12))
        | (
            (pl.col("frequency") == "D")
            & (pl.col("count") >= MIN_DAILY)
            & (pl.col("count") == pl.col("periods"))
            & (pl.col("from").str.slice(5, 2) == "01")
            & (pl.col("to").str.slice(5, 2) == "12")
        )
    )
    return grouped.with_columns(
        whole.alias("whole"),
        pl.when(pl.col("frequency") == "A").then(pl.col("first")).otherwise(pl.col("mean"))
        .alias("rate"),
        pl.when(pl.col("frequency") == "A").then(pl.lit("ECB annual average"))
        .when(pl.col("frequency") == "M").then(pl.lit("mean of 12 monthly averages"))
        .otherwise(pl.format("mean of {} daily rates", "count")).alias("what"),
    )  # fmt: skip


def annual_rates(observations: pl.DataFrame, source: str) -> AnnualRates:
    """The annual USD rates `observations` (EXR_COLUMNS, values per euro) make."""
    annual = _annual(observations)
    whole = annual.filter("whole")
    usd = {
        (f, y): (r, w, s)
        for f, y, r, w, s in whole.filter(pl.col("currency") == "USD")
        .select("frequency", "year", "rate", "what", "series").rows()
    }  # fmt: skip
    rates: list[FxRate] = []
    not_made: list[str] = []
    by_key: dict[tuple[str, int], dict[str, tuple[float, str, str]]] = {}
    for currency, frequency, year, rate, what, series in whole.select(
        "currency", "frequency", "year", "rate", "what", "series"
    ).rows():
        by_key.setdefault((currency, year), {})[frequency] = (rate, what, series)
    for key in [k for k in by_key if k[0] == "USD"]:
        # The US dollar per euro series gives the euro's own rate.
        by_key[("EUR", key[1])] = by_key.pop(key)
    for (currency, year), found in sorted(by_key.items()):
        usable = [f for f in FREQUENCIES if f in found and (f, year) in usd]
        if not usable:
            not_made.append(
                f"{currency} {year}: no US dollar rate against the euro of the same frequency "
                f"({', '.join(sorted(found))}) for the year in the files"
            )
            continue
        frequency = usable[0]
        rate, what, series = (1.0, "", "") if currency == "EUR" else found[frequency]
        usd_rate, usd_what, usd_series = usd[(frequency, year)]
        note = f"ECB euro reference rate {usd_series}, {usd_what} ({usd_rate:.6g} USD per EUR)"
        if currency != "EUR":
            note = (
                f"Cross rate through the euro: {note} / {series}, {what} ({rate:.6g} "
                f"{currency} per EUR)"
            )
        rates.append(FxRate(currency, year, usd_rate / rate, source, f"{note}, {year}"))
    for currency, frequency, year, count in (
        annual.filter(~pl.col("whole"))
        .select("currency", "frequency", "year", "count")
        .sort("currency", "year", "frequency")
        .rows()
    ):
        if (currency.replace("USD", "EUR"), year) in by_key:
            continue  # another frequency made it (or said why not)
        unit = {"A": "annual", "M": "monthly", "D": "daily"}.get(frequency, frequency)
        not_made.append(f"{currency} {year}: {count} {unit} rate(s), not a whole year")
    return AnnualRates(rates, not_made)

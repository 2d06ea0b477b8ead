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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tracker.store import FxRate

FREQUENCIES = ("A", "D", "M")  # in the order they are preferred
MIN_DAILY = 200  # ECB reference rates are published on about 255 TARGET days a year


class ExrObservation(NamedTuple):
    """One observation of an ECB EXR series, as `importers.sdmx` reads it."""

    currency: str
    frequency: str  # FREQ: A, M, D (others make no rate)
    period: str  # '2019', '2019-01', '2019-01-02'
    value: float  # units of `currency` per euro
    series: str  # the series key, 'M.USD.EUR.SP00.A'


@dataclass(frozen=True)
class AnnualRates:
    """The rates made, and the currency-years of the files for which none could be."""

    rates: list[FxRate]
    not_made: list[str]  # 'NZD 2013: 2 daily rates, not a whole year'


@dataclass(frozen=True)
class _Year:
    """The observations of one currency, frequency and year, summed up."""

    currency: str
    frequency: str
    year: int
    rate: float  # A: the ECB's annual average; M, D: the mean of the observations
    what: str  # 'ECB annual average', 'mean of 12 monthly averages', 'mean of 255 daily rates'
    series: str  # the first observation's series key
    count: int
    whole: bool  # the observations cover the whole year


def _mean(values: Sequence[float]) -> float:
    """The mean by compensated (Kahan) summation, in the order given."""
    # This is how polars averages a group, which made the rates written before (and
    # data/reference/fx_rates.csv): the same sums keep an unchanged rate unchanged, to the
    # last bit. Polars itself costs this import 0.2 s of start-up; tests compare the two.
    total = compensation = 0.0
    for value in values:
        step = value - compensation
        running = total + step
        compensation = (running - total) - step
        total = running
    return total / len(values)


def _annual(observations: Iterable[ExrObservation]) -> list[_Year]:
    """One value per (currency, frequency, year) of the observations, and whether it covers
    a whole year."""
    groups: dict[tuple[str, str, int], list[ExrObservation]] = {}
    for obs in observations:
        groups.setdefault((obs.currency, obs.frequency, int(obs.period[:4])), []).append(obs)
    years = []
    for (currency, frequency, year), group in groups.items():
        count = len(group)
        periods = len({obs.period for obs in group})
        days = [obs.period[:10] for obs in group]
        whole = (
            (frequency == "A" and count == 1)
            or (frequency == "M" and periods == 12 and count == 12)
            or (
                frequency == "D"
                and MIN_DAILY <= count == periods
                and min(days)[5:7] == "01"
                and max(days)[5:7] == "12"
            )
        )
        if frequency == "A":
            rate, what = group[0].value, "ECB annual average"
        else:
            rate = _mean([obs.value for obs in group])
            what = (
                "mean of 12 monthly averages" if frequency == "M"
                else f"mean of {count} daily rates"
            )  # fmt: skip
        years.append(_Year(currency, frequency, year, rate, what, group[0].series, count, whole))
    return years


def annual_rates(observations: Iterable[ExrObservation], source: str) -> AnnualRates:
    """The annual USD rates the EXR `observations` (values per euro) make."""
    annual = _annual(observations)
    whole = [y for y in annual if y.whole]
    usd = {(y.frequency, y.year): (y.rate, y.what, y.series) for y in whole if y.currency == "USD"}
    rates: list[FxRate] = []
    not_made: list[str] = []
    by_key: dict[tuple[str, int], dict[str, tuple[float, str, str]]] = {}
    for y in whole:
        by_key.setdefault((y.currency, y.year), {})[y.frequency] = (y.rate, y.what, y.series)
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
    partial = sorted((y for y in annual if not y.whole),
                     key=lambda y: (y.currency, y.year, y.frequency))  # fmt: skip
    for y in partial:
        if (y.currency.replace("USD", "EUR"), y.year) in by_key:
            continue  # another frequency made it (or said why not)
        unit = {"A": "annual", "M": "monthly", "D": "daily"}.get(y.frequency, y.frequency)
        not_made.append(f"{y.currency} {y.year}: {y.count} {unit} rate(s), not a whole year")
    return AnnualRates(rates, not_made)

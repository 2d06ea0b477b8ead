"""`tracker import sdmx` of ECB exchange rates without polars (README "Benchmarks"): the
annual means it makes are those polars made (and data/reference/fx_rates.csv holds), to
the last bit, and the command starts without the libraries it does not need."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import PROJECT, db_execute, db_rows, invoke
from tests.test_import_sdmx import USD_MONTHLY, _generic
from tests.test_startup import _run_and_list_modules
from tracker.importers.fx_rates import ExrObservation, _annual

# ECB reference rates: 4 to 6 significant decimals, from 0.0001 (BTC-like) to 30,000 (IDR)
RATES = st.builds(
    lambda digits, places: digits / 10**places,
    st.integers(min_value=1, max_value=300_000_000),
    st.integers(min_value=4, max_value=6),
)
GROUPS = st.lists(
    st.tuples(st.sampled_from(["USD", "CNY", "JPY"]), st.sampled_from(["M", "D"]),
              st.integers(2000, 2003), st.lists(RATES, min_size=1, max_size=300)),
    min_size=1, max_size=6,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(GROUPS)
def test_annual_means_equal_those_polars_makes_to_the_last_bit(
    groups: list[tuple[str, str, int, list[float]]],
) -> None:
    observations = [
        ExrObservation(currency, frequency, f"{year}-{n % 12 + 1:02d}", value, "series")
        for currency, frequency, year, values in groups
        for n, value in enumerate(values)
    ]
    frame = pl.DataFrame(observations, schema=list(ExrObservation._fields), orient="row")
    expected = {
        (currency, frequency, year): mean
        for currency, frequency, year, mean in frame.with_columns(
            pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("year")
        )
        .group_by("currency", "frequency", "year")
        .agg(pl.col("value").mean())
        .rows()
    }
    made = {(y.currency, y.frequency, y.year): y.rate for y in _annual(observations)}
    assert made == expected


def test_an_import_of_ecb_exchange_rates_starts_without_polars(tracker_db: Path) -> None:
    printed, modules = _run_and_list_modules(
        "--db", str(tracker_db), "import", "sdmx", str(USD_MONTHLY)
    )
    assert "nothing new: all 21 annual exchange rates are already in fx_rates" in printed
    assert "sdmx" in modules  # the check sees what the command imports
    heavy = sorted(modules & {"polars", "tracker.ingest", "tracker.definitions.briefings"})
    assert heavy == [], heavy


def test_an_exchange_rate_whose_period_is_not_a_date_is_refused(
    empty_db: Path, tmp_path: Path
) -> None:
    before = db_rows(empty_db, "SELECT count(*), sum(usd_per_unit) FROM fx_rates")
    odd = _generic(tmp_path / "odd.xml", {"M.USD.EUR.SP00.A": [("Jan-2019", "1.1")]})
    result = invoke("import", "sdmx", odd, db=empty_db)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"{odd} (series M.USD.EUR.SP00.A, Jan-2019): found the period 'Jan-2019'" in text
    assert "Traceback" not in result.output
    assert db_rows(empty_db, "SELECT count(*), sum(usd_per_unit) FROM fx_rates") == before


def test_mapping_files_checked_once_are_not_checked_against_the_schema_again(
    tracker_db: Path, tmp_path: Path
) -> None:
    command = ("--db", str(tracker_db), "import", "sdmx", str(USD_MONTHLY))
    # `tracker init` checked the shipped mapping files
    printed, modules = _run_and_list_modules(*command)
    assert "jsonschema" not in modules and "21 annual exchange rates" in printed, printed
    # A changed file is checked again, and refused when it breaks the schema.
    shipped = PROJECT / "indicators" / "mappings" / "ecb-exr-fx-rates.toml"
    edited = tmp_path / "ecb-exr-fx-rates.toml"
    text = shipped.read_text(encoding="utf-8")
    assert 'unmapped = "skip"' in text
    edited.write_text(text.replace('unmapped = "skip"', 'unmapped = "ignore"'), "utf-8")
    printed, modules = _run_and_list_modules(*command, "--map", str(edited), exit_code=2)
    assert f"{edited}: key 'unmapped'" in " ".join(printed.split()), printed
    assert "jsonschema" in modules and "Traceback" not in printed
    # The refusal changed nothing: the shipped files are still known to be checked.
    printed, modules = _run_and_list_modules(*command)
    assert "jsonschema" not in modules and "21 annual exchange rates" in printed, printed
    # Without the digest (a database from before), the import checks them and keeps it.
    db_execute(tracker_db, "DELETE FROM meta WHERE key LIKE 'mappings_sha256:%'")
    for checked in (True, False):
        printed, modules = _run_and_list_modules(*command)
        assert ("jsonschema" in modules) == checked and "21 annual" in printed, printed

"""The shipped exchange rates: every row cites a shipped source and says what it is, and a
figure in yuan converts through the ECB's rates (issue 13: CNY, the currency of most Chinese
lending, must load)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from tests.conftest import LONG_HEADER, PROJECT, db_rows, invoke

REFERENCE = PROJECT / "data" / "reference"


def test_every_shipped_rate_cites_a_shipped_source_and_says_how_it_was_made() -> None:
    with (REFERENCE / "sources.csv").open(encoding="utf-8") as handle:
        sources = {row["id"] for row in csv.DictReader(handle)}
    with (REFERENCE / "fx_rates.csv").open(encoding="utf-8") as handle:
        rates = list(csv.DictReader(handle))
    assert {r["currency"] for r in rates} >= {"CNY", "EUR", "GBP", "JPY"}
    for rate in rates:
        assert rate["source"] in sources, rate
        assert rate["note"].strip(), rate
        assert Decimal(rate["usd_per_unit"]) > 0


def test_a_figure_in_yuan_converts_at_the_ecb_cross_rate_of_its_year(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cny.csv"
    path.write_text(
        ",".join(LONG_HEADER) + "\nfinancing,BRI,KAZ,2024,RMB 5 bn,,A loan reported in yuan,\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    ((value_usd, rate_used),) = db_rows(
        tracker_db, "SELECT value_usd, rate_used FROM comparison_usd WHERE currency = 'CNY'"
    )
    # mean USD per EUR of the 256 ECB days of 2024 / mean CNY per EUR of the same days
    assert rate_used == "CNY 1 = USD 0.13899 (2024 rate, ecb-eurofxref-hist)"
    assert value_usd == Decimal("0.69495")

"""`tracker import sdmx` of IMF Direction of Trade (DOTS) series through the shipped mapping
`indicators/mappings/imf-dots-china-central-asia.toml`: China's exports + imports with each
Central Asian country -> `trade_central_asia` by country, into a real DuckDB file.

The fixture tests/fixtures/imf-dots-china-central-asia-SYNTHETIC.xml is SYNTHETIC: its values
are made up (no DOTS data message was at hand), shaped as the IMF publishes DOTS (dimensions
FREQ.REF_AREA.INDICATOR.COUNTERPART_AREA, IMF two-letter codes, UNIT_MULT 6, annual and
quarterly series, the balance TBG_USD, other partners, a mirror series).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROJECT, db_rows, invoke
from tests.test_import_sdmx import USD_MONTHLY, _state

DOTS = PROJECT / "tests" / "fixtures" / "imf-dots-china-central-asia-SYNTHETIC.xml"
MAPPING = PROJECT / "indicators" / "mappings" / "imf-dots-china-central-asia.toml"
SUMMED = "A.CN.TXG_FOB_USD+TMG_CIF_USD"
# (exports, imports) in USD millions as the fixture writes them
FIXTURE = {
    ("KAZ", "2022"): ("16345.1", "14766.2"),
    ("KAZ", "2023"): ("24687.1", "16416.2"),
    ("KGZ", "2023"): ("19864.2", "66.7"),
    ("TJK", "2023"): ("3912.5", "61.4"),
    ("TKM", "2023"): ("1014.3", "9521.8"),
    ("UZB", "2023"): ("10012.6", "2885.9"),
}


@pytest.fixture
def db(empty_db: Path) -> Path:
    return empty_db


def _imported(db: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    rows = db_rows(
        db,
        "SELECT geography, period, value, qualifier, initiative, note FROM observations_current "
        "WHERE indicator = 'trade_central_asia' AND source = 'imf-dots'",
    )
    return {(str(r[0]), str(r[1])): r[2:] for r in rows}


def _variant(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    """The SYNTHETIC fixture with `old` replaced by `new` (`count` times)."""
    text = DOTS.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    path = tmp_path / "dots-variant.xml"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


def test_each_total_is_exactly_exports_plus_imports_by_partner_country(db: Path) -> None:
    result = invoke("import", "sdmx", DOTS, db=db)
    assert result.exit_code == 0, result.output
    assert "imported 6 values from 1 file(s) as batch 1: 6 new, 0 revised" in result.output
    got = _imported(db)
    assert set(got) == set(FIXTURE)
    for (geography, period), (exports, imports) in FIXTURE.items():
        value, _, initiative, note = got[(geography, period)]
        # USD millions into the indicator's USD bn, in decimal arithmetic
        assert value == (Decimal(exports) + Decimal(imports)) / 1000, (geography, period)
        assert initiative == "BRI"
        assert f"{exports} + " in str(note) and f" {imports} (UNIT_MULT 6)" in str(note)
    # a float sum would be 10.536099999999999
    assert got[("TKM", "2023")][0] == Decimal("10.5361")
    note = str(got[("KAZ", "2023")][3])
    assert note == (
        "IMF DOTS: China's exports FOB (TXG_FOB_USD) + imports CIF (TMG_CIF_USD) with "
        "Kazakhstan, 2023: sum made by tracker of A.CN.TXG_FOB_USD.KZ 24687.1 + "
        "A.CN.TMG_CIF_USD.KZ 16416.2 (UNIT_MULT 6)"
    )
    assert db_rows(db, "SELECT kind, publisher FROM sources WHERE id = 'imf-dots'") == [
        ("primary", "International Monetary Fund")
    ]


def test_no_total_is_made_when_one_direction_has_no_value_and_the_summary_says_so(
    db: Path,
) -> None:
    result = invoke("import", "sdmx", DOTS, db=db)
    assert result.exit_code == 0, result.output
    assert f"no total made for {SUMMED}.UZ 2022: A.CN.TMG_CIF_USD.UZ has no value" in result.output
    assert ("UZB", "2022") not in _imported(db)


def test_an_estimated_value_makes_the_total_approximate_and_the_note_says_which(
    db: Path,
) -> None:
    assert invoke("import", "sdmx", DOTS, db=db).exit_code == 0
    got = _imported(db)
    _, qualifier, _, note = got[("TJK", "2023")]
    assert qualifier == "approximate"
    assert "A.CN.TXG_FOB_USD.TJ: estimated (OBS_STATUS E)" in str(note)
    assert {q for (_, q, _, _) in got.values()} == {None, "approximate"}


def test_other_partners_the_balance_mirror_and_quarterly_series_are_skipped_and_named(
    db: Path,
) -> None:
    result = invoke("import", "sdmx", DOTS, "--map", MAPPING, db=db)
    assert result.exit_code == 0, result.output
    assert (
        "Skipped: 6 rows of 5 series with no mapping (A.CN.TBG_USD.KZ, A.CN.TMG_CIF_USD.US, "
        "A.CN.TXG_FOB_USD.US, A.KZ.TMG_CIF_USD.CN, Q.CN.TXG_FOB_USD.KZ)"
    ) in " ".join(result.output.split())
    assert db_rows(db, "SELECT count(*) FROM observations WHERE source = 'imf-dots'") == [(6,)]


def test_a_second_import_changes_nothing_and_a_dry_run_writes_nothing(db: Path) -> None:
    before = _state(db)
    dry = invoke("import", "sdmx", DOTS, "--dry-run", db=db)
    assert dry.exit_code == 0 and "would import 6 values" in dry.output, dry.output
    assert _state(db) == before
    assert db_rows(db, "SELECT count(*) FROM sources WHERE id = 'imf-dots'") == [(0,)]
    assert invoke("import", "sdmx", DOTS, db=db).exit_code == 0
    after = _state(db)
    again = invoke("import", "sdmx", DOTS, db=db)
    assert again.exit_code == 0
    assert "nothing new: all 6 values from 1 file(s) are already in the database" in again.output
    assert _state(db) == after


def test_series_of_different_unit_mult_are_not_added_the_import_is_refused(
    db: Path, tmp_path: Path
) -> None:
    # the Kyrgyz imports series in thousands, the exports in millions
    parts = DOTS.read_text(encoding="utf-8").split("<generic:Series>")
    [kyrgyz] = [i for i, p in enumerate(parts) if '"TMG_CIF_USD"' in p and '"KG"' in p]
    parts[kyrgyz] = parts[kyrgyz].replace('"UNIT_MULT" value="6"', '"UNIT_MULT" value="3"')
    path = tmp_path / "mixed.xml"
    path.write_text("<generic:Series>".join(parts), encoding="utf-8")
    before = _state(db)
    result = invoke("import", "sdmx", path, db=db)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert out.startswith(f"{path}: the series A.CN.TXG_FOB_USD.KG, A.CN.TMG_CIF_USD.KG")
    assert "different UNIT_MULTs (A.CN.TXG_FOB_USD.KG UNIT_MULT 6, A.CN.TMG_CIF_USD.KG " in out
    assert "Traceback" not in result.output
    assert _state(db) == before


def test_a_forecast_status_is_refused_never_dropped(db: Path, tmp_path: Path) -> None:
    path = _variant(tmp_path, 'value="E"/>', 'value="F"/>')
    before = _state(db)
    result = invoke("import", "sdmx", path, db=db)
    assert result.exit_code == 2
    assert "(series A.CN.TXG_FOB_USD.TJ, 2023): OBS_STATUS 'F' (forecast" in result.output
    assert _state(db) == before


def test_the_ecb_specimen_and_a_dots_file_import_together_each_by_its_own_mapping(
    db: Path,
) -> None:
    result = invoke("import", "sdmx", USD_MONTHLY, DOTS, db=db)
    assert result.exit_code == 0, result.output
    assert "nothing new: all 21 annual exchange rates are already in fx_rates" in result.output
    assert "imported 6 values from 2 file(s) as batch 1" in result.output
    assert len(_imported(db)) == 6
    alone = invoke("import", "sdmx", USD_MONTHLY, "--map", PROJECT / "indicators" / "mappings"
                   / "ecb-exr-fx-rates.toml", db=db)  # fmt: skip
    assert alone.exit_code == 0 and "21 annual exchange rates" in alone.output, alone.output


@pytest.mark.parametrize(
    ("series", "key", "said"),
    [
        (
            'match = { REF_AREA = "CN", INDICATOR = "TXG_FOB_USD" }\nsum_over = "INDICATOR"\n',
            "series.0.sum_over",
            "expected a list of at least two values of INDICATOR in `match`",
        ),
        (
            'code = "A.CN.TXG_FOB_USD.KZ"\nsum_over = "INDICATOR"\n',
            "series.0",
            "'match' is a required property",
        ),  # fmt: skip
        (
            'match = { INDICATOR = ["TXG_FOB_USD", "TMG_CIF_USD"] }\nsum_over = "INDICATOR"\n'
            'geography_from = "INDICATOR"\n',
            "series.0.geography_from",
            "is the dimension summed over",
        ),
    ],
)
def test_a_malformed_sum_entry_is_refused_naming_file_and_key(
    db: Path, tmp_path: Path, series: str, key: str, said: str
) -> None:
    mapping = tmp_path / "bad-sum.toml"
    mapping.write_text(
        'format = "sdmx"\n[source]\nid = "imf-dots"\ntitle = "t"\npublisher = "IMF"\n'
        f'[[series]]\n{series}indicator = "trade_central_asia"\nunit = "USD"\nscale = 6\n',
        encoding="utf-8",
    )
    result = invoke("import", "sdmx", DOTS, "--map", mapping, db=db)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert out.startswith(f"{mapping}: key '{key}'") and said in out, out
    assert "Traceback" not in result.output and result.output.count("\n\n") == 0

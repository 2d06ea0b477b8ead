"""Context indicators (context = true: GDP, population): rows of no programme, stored under
the reserved initiative CONTEXT, shown as context and never compared with programmes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import LONG_HEADER, PROJECT, db_rows, invoke

SOURCE = "worldbank-wdi-aggregates"  # a shipped source id; the figures below are test rows


def write_rows(folder: Path, rows: list[str]) -> Path:
    path = folder / "context.csv"
    path.write_text(",".join(LONG_HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_context_rows_need_no_initiative_and_are_stored_under_context(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write_rows(tmp_path, [f"gdp,,KAZ,2023,1,,{SOURCE},test row",
                                 f"gdp,,Kyrgyz Republic,2023,2,,{SOURCE},test row"])  # fmt: skip
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert db_rows(
        tracker_db, "SELECT initiative, geography, value, context FROM latest_values "
        "WHERE indicator = 'gdp' ORDER BY geography",
    ) == [("CONTEXT", "KAZ", 1.0, True), ("CONTEXT", "KGZ", 2.0, True)]  # fmt: skip
    assert db_rows(
        tracker_db, "SELECT DISTINCT context FROM latest_values WHERE indicator <> 'gdp'"
    ) == [(False,)]
    assert db_rows(
        tracker_db, "SELECT DISTINCT context FROM comparison_usd WHERE indicator = 'gdp'"
    ) == [(True,)]
    listing = invoke("indicators", db=tracker_db)
    line = next(li for li in listing.output.splitlines() if li.startswith("│ gdp"))
    assert "context" in line and "CONTEXT" not in line
    shown = invoke("indicators", "show", "gdp", db=tracker_db)
    assert "context: belongs to no programme" in shown.output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"gdp,BRI,KAZ,2023,1,,{SOURCE},",
         "column 'initiative': found 'BRI', expected nothing: indicator 'gdp' is a context "
         "figure of no programme (context = true); leave the initiative empty"),
        (f"new_deals,CONTEXT,KAZ,2023,1,,{SOURCE},",
         "column 'initiative': found 'CONTEXT', expected a programme: CONTEXT is only for "
         "context indicators, and indicator 'new_deals' is not one"),
    ],
)  # fmt: skip
def test_a_programme_on_a_context_row_or_context_on_a_programme_row_is_refused(
    tracker_db: Path, tmp_path: Path, row: str, message: str
) -> None:
    before = db_rows(tracker_db, "SELECT count(*) FROM observations")
    path = write_rows(tmp_path, [f"gdp,,KAZ,2022,1,,{SOURCE},", row])
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 2
    assert f"{path}:3: {message}" in " ".join(result.output.split())
    assert db_rows(tracker_db, "SELECT count(*) FROM observations") == before


def test_missing_initiative_message_does_not_offer_context(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write_rows(tmp_path, [f"financing,,WLD,2024,1,USD bn,{SOURCE},"])
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 2
    assert "expected one of BRI, CHN_ODF, GG, PGII, USA (indicator" in " ".join(
        result.output.split()
    )


@pytest.mark.parametrize(
    "extra", ['default_initiative = "BRI"', '[[targets]]\ninitiative = "BRI"\nlabel = "x"\n'
              'value = 1\nunit = "USD bn"\ndue = "2030-01-01"\nsource = "gfdc-bri-2023"'],
    ids=["default_initiative", "targets"],
)  # fmt: skip
def test_a_context_definition_with_a_programme_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    home = tmp_path / "home"
    shutil.copytree(PROJECT / "indicators", home / "indicators")
    shutil.copytree(PROJECT / "data" / "reference", home / "data" / "reference")
    gdp = home / "indicators" / "gdp.toml"
    gdp.write_text(gdp.read_text(encoding="utf-8") + extra + "\n", encoding="utf-8")
    monkeypatch.setenv("TRACKER_HOME", str(home))
    result = invoke("init", db=tmp_path / "t.duckdb")
    assert result.exit_code != 0
    key = extra.split()[0].strip("[]")
    assert f"{gdp}: key '{key}': a context indicator (context = true) belongs to no " in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output


def test_aggregates_and_context_are_neither_regions_nor_programmes_of_variants(
    tracker_db: Path,
) -> None:
    from tracker import store
    from tracker.briefing.variants import GEOGRAPHY_FACTS, INITIATIVES

    with store.connect(tracker_db, read_only=True) as conn:
        facts = conn.execute(GEOGRAPHY_FACTS, [["KAZ"]]).fetchall()
        initiatives = [row[0] for row in conn.execute(INITIATIVES).fetchall()]
    # KAZ is also a land-locked developing country (an aggregate): not a region it is in
    assert facts[0][2] == ["central-asia", "asia"]
    assert "CONTEXT" not in initiatives and "BRI" in initiatives

"""Geography names as other datasets spell them, aggregates, and refusals of anything a
name could mean twice: through real `tracker ingest` on the shipped database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LONG_HEADER, db_rows, invoke
from tracker import store
from tracker.ingest.geographies import GeographyResolver
from tracker.text import name_key

SOURCE = "gfdc-bri-2023"


def ingest_geographies(db: Path, folder: Path, names: list[str]) -> tuple[int, str]:
    """`tracker ingest` of one new_deals row per geography text; exit code and output."""
    path = folder / "geographies.csv"
    lines = [",".join(LONG_HEADER)]
    for year, name in enumerate(names, start=1990):
        quoted = '"' + name.replace('"', '""') + '"'
        lines.append(f"new_deals,BRI,{quoted},{year},1,,{SOURCE},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("ingest", path, db=db)
    return result.exit_code, result.output


def loaded(db: Path) -> dict[str, str]:
    """Period -> geography of the new_deals rows the test loaded (periods 1990-2019)."""
    rows = db_rows(
        db, "SELECT period, geography FROM observations WHERE indicator = 'new_deals' "
        "AND period BETWEEN '1990' AND '2019'",
    )  # fmt: skip
    return {str(p): str(g) for p, g in rows}


ISSUE_NAMES = {
    "Kyrgyz Republic": "KGZ",
    "Lao PDR": "LAO",
    "Egypt, Arab Rep.": "EGY",
    "Viet Nam": "VNM",
    "Côte d'Ivoire": "CIV",  # straight apostrophe; the table spells it with a curly one
    "Côte d\u2019Ivoire": "CIV",
    "Cote d'Ivoire": "CIV",
    "Korea, Rep.": "KOR",
    "Korea, Dem. People's Rep.": "PRK",
    "Congo, Dem. Rep.": "COD",
    "Congo, Rep.": "COG",
    "Iran, Islamic Rep.": "IRN",
    "Turkiye": "TUR",
    "Gambia, The": "GMB",
}


def test_country_names_as_the_world_bank_spells_them_load_as_their_iso_code(
    tracker_db: Path, tmp_path: Path
) -> None:
    names = list(ISSUE_NAMES)
    code, output = ingest_geographies(tracker_db, tmp_path, names)
    assert code == 0, output
    assert loaded(tracker_db) == {str(1990 + i): ISSUE_NAMES[n] for i, n in enumerate(names)}


NEAR_MISSES = {
    "Niger": "NER", "Nigeria": "NGA", "Guinea": "GIN", "Guinea-Bissau": "GNB",
    "Equatorial Guinea": "GNQ", "Papua New Guinea": "PNG", "Sudan": "SDN",
    "South Sudan": "SSD", "Dominica": "DMA", "Dominican Republic": "DOM", "Samoa": "WSM",
    "American Samoa": "ASM", "South Korea": "KOR", "North Korea": "PRK",
}  # fmt: skip


def test_near_misses_each_load_as_their_own_country(tracker_db: Path, tmp_path: Path) -> None:
    names = list(NEAR_MISSES)
    code, output = ingest_geographies(tracker_db, tmp_path, names)
    assert code == 0, output
    assert loaded(tracker_db) == {str(1990 + i): NEAR_MISSES[n] for i, n in enumerate(names)}


@pytest.mark.parametrize(
    ("name", "could_be"),
    [
        ("Korea", "'KOR' (South Korea) or 'PRK' (North Korea)"),
        ("Congo", "'COG' (Congo - Brazzaville) or 'COD' (Congo - Kinshasa)"),
        ("congo", "'COG' (Congo - Brazzaville) or 'COD' (Congo - Kinshasa)"),
        ("Sub-Saharan Africa", "'SSF' (Sub-Saharan Africa) or 'sub-saharan-africa'"),
    ],
)
def test_a_name_that_could_mean_two_places_is_refused_naming_both(
    tracker_db: Path, tmp_path: Path, name: str, could_be: str
) -> None:
    before = db_rows(tracker_db, "SELECT count(*) FROM observations")
    code, output = ingest_geographies(tracker_db, tmp_path, ["KAZ", name])
    assert code == 2, output
    flat = " ".join(output.split())
    assert f"column 'geography': found '{name}', unknown geography; it could be" in flat
    assert could_be in flat
    assert "Traceback" not in output
    assert db_rows(tracker_db, "SELECT count(*) FROM observations") == before


def test_an_unknown_name_is_refused_with_at_most_three_suggestions(
    tracker_db: Path, tmp_path: Path
) -> None:
    code, output = ingest_geographies(tracker_db, tmp_path, ["Nigr", "Atlantis"])
    assert code == 2, output
    flat = " ".join(output.split())
    assert "found 'Nigr', unknown geography; did you mean 'NER' (Niger)" in flat
    assert "found 'Atlantis', unknown geography; expected an ISO alpha-3 code" in flat
    line = next(li for li in output.splitlines() if "Nigr" in li)
    assert line.count("' (") <= 3
    assert loaded(tracker_db) == {}


def test_world_bank_and_un_aggregates_load_by_code_or_name(
    tracker_db: Path, tmp_path: Path
) -> None:
    names = ["HIC", "Upper middle income", "East Asia & Pacific", "least-developed-countries",
             "Small Island Developing States (SIDS)", "Kosovo"]  # fmt: skip
    code, output = ingest_geographies(tracker_db, tmp_path, names)
    assert code == 0, output
    found = loaded(tracker_db)
    assert [found[str(1990 + i)] for i in range(len(names))] == [
        "HIC", "UMC", "EAS", "least-developed-countries", "small-island-developing-states",
        "XKX",
    ]  # fmt: skip


def test_every_shipped_geography_and_membership_carries_a_known_source(tracker_db: Path) -> None:
    for table in ("geographies", "geography_members"):
        unsourced = db_rows(
            tracker_db,
            f"SELECT count(*) FROM {table} AS g LEFT JOIN sources AS s ON s.id = g.source "
            "WHERE s.id IS NULL",
        )
        assert unsourced == [(0,)], table
    kinds = dict(db_rows(tracker_db, "SELECT kind, count(*) FROM geographies GROUP BY kind"))
    assert kinds["aggregate"] >= 40
    # UN groups come with the members the UN lists; World Bank aggregates with none shipped
    members = dict(db_rows(
        tracker_db, "SELECT region, count(*) FROM geography_members GROUP BY region"
    ))  # fmt: skip
    assert members["land-locked-developing-countries"] >= 30
    assert "KAZ" in [r[0] for r in db_rows(
        tracker_db, "SELECT member FROM geography_members "
        "WHERE region = 'land-locked-developing-countries'",
    )]  # fmt: skip
    assert "HIC" not in members


def test_every_shipped_country_name_and_id_resolves_to_itself(tracker_db: Path) -> None:
    with store.connect(tracker_db, read_only=True) as conn:
        catalog = store.catalog(conn)
    resolve = GeographyResolver(catalog)
    rows = db_rows(tracker_db, "SELECT id, name FROM geographies WHERE kind = 'country'")
    shared = {name_key(n) for n in catalog.ambiguous_geographies}
    assert "micronesia" in shared  # the country (FSM) and the UN M49 sub-region
    for geo_id, name in rows:
        assert resolve(str(geo_id)) == geo_id
        if name_key(str(name)) in shared:
            assert resolve(str(name)) is None, name
            continue
        assert resolve(str(name)) == geo_id, name
        assert resolve(str(name).upper().replace("\u2019", "'")) == geo_id, name


def test_a_file_of_ids_never_imports_country_converter(tracker_db: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "ids.csv"
    path.write_text(f"{','.join(LONG_HEADER)}\nnew_deals,BRI,KAZ,1990,1,,{SOURCE},\n")
    script = (
        "import sys; from tracker.cli.app import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('coco' if 'country_converter' in sys.modules else 'no coco')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--db", str(tracker_db), "ingest", str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip().endswith("no coco"), done.stdout + done.stderr


def test_a_geography_text_too_long_for_any_name_is_refused_without_a_guess(
    tracker_db: Path, tmp_path: Path
) -> None:
    # Hostile input: country_converter's regular expressions would take minutes on it.
    code, output = ingest_geographies(tracker_db, tmp_path, ["Kazakhstan " * 10_000])
    assert code == 2
    assert "column 'geography'" in output and "unknown geography" in output
    assert loaded(tracker_db) == {}

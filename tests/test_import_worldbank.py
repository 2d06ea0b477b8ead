"""`tracker import worldbank`: World Bank CSV files (API download, WDI bulk, DataBank) through
the real command into a real DuckDB file, mapped by indicators/mappings/worldbank-context.toml.

The fixtures are the raw downloads in ../shared/corpora/worldbank-wdi-raw/ and files laid out
as the WDI bulk file and DataBank write them, made from that download's own rows and values.
"""

from __future__ import annotations

import csv
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import CORPORA, PROJECT, db_rows, invoke

WORLD_BANK = CORPORA / "worldbank-wdi-raw"
GDP_API = WORLD_BANK / "API_NY.GDP.MKTP.CD_DS2_en_csv_v2_4019306.csv"
PER_CAPITA = WORLD_BANK / "API_NY.GDP.PCAP.CD_DS2_en_csv_v2_4019678.csv"
MAPPING = PROJECT / "indicators" / "mappings" / "worldbank-context.toml"


@pytest.fixture
def db(empty_db: Path) -> Path:
    """An initialised database with no observations (conftest's `empty_db`)."""
    return empty_db


def _corpus_rows(path: Path = GDP_API) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of a World Bank download, read with Python's csv module."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = next(i for i, row in enumerate(rows) if "Country Code" in row)
    return rows[at], [row for row in rows[at + 1 :] if row]


def _corpus_value(country: str, year: str) -> str:
    header, rows = _corpus_rows()
    row = next(r for r in rows if r[1] == country)
    return row[header.index(year)]


def _stored(db: Path, indicator: str, geography: str, period: str) -> tuple[object, ...]:
    found = db_rows(
        db,
        "SELECT value, value_as_given, unit_as_given, initiative, source FROM "
        "observations_current WHERE indicator = ? AND geography = ? AND period = ?",
        [indicator, geography, period],
    )
    assert len(found) == 1, found
    return found[0]


def _counts(db: Path) -> tuple[object, ...]:
    return db_rows(
        db,
        "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches), "
        "(SELECT count(*) FROM sources), (SELECT max(published) FROM sources)",
    )[0]


def _values_in_corpus() -> int:
    _, rows = _corpus_rows()
    return sum(1 for row in rows for cell in row[4:] if cell.strip() not in ("", ".."))


def test_the_api_download_loads_every_gdp_value_as_the_file_gives_it(db: Path) -> None:
    result = invoke("import", "worldbank", GDP_API, db=db)
    assert result.exit_code == 0, result.output
    expected = _values_in_corpus()
    assert f"imported {expected:,} values from 1 file(s) as batch 1: {expected:,} new" in (
        result.output
    )
    for country, year in (("KAZ", "2019"), ("WLD", "2019"), ("ABW", "1986"), ("SSF", "2000")):
        given = _corpus_value(country, year)
        value, as_given, unit, initiative, source = _stored(db, "gdp", country, year)
        assert as_given == given and unit == "USD"
        assert value == Decimal(given).scaleb(-9)  # exactly as given, in USD bn
        assert initiative == "CONTEXT" and source == "worldbank-wdi"
    # read back through the real `tracker sql`, as an analyst would
    shown = invoke(
        "sql", "--format", "json",
        "SELECT value FROM observations_current WHERE indicator = 'gdp' AND geography = 'KAZ' "
        "AND period = '2019'", db=db,
    )  # fmt: skip
    assert float(json.loads(shown.output)[0]["value"]) == pytest.approx(181.667)
    files, digests = db_rows(db, "SELECT files, sha256 FROM batches")[0]
    assert files == [str(GDP_API)]
    assert digests == [hashlib.sha256(GDP_API.read_bytes()).hexdigest()]
    # the World Bank is the source, published on the file's "Last Updated Date" (27/04/2022)
    source = db_rows(
        db, "SELECT title, publisher, published, kind FROM sources WHERE id = 'worldbank-wdi'"
    )
    assert [(t, p, str(d), k) for t, p, d, k in source] == [
        ("World Development Indicators", "World Bank", "2022-04-27", "primary")
    ]


def test_missing_cells_are_skipped_never_zero_and_aggregates_are_aggregates(db: Path) -> None:
    result = invoke("import", "worldbank", GDP_API, db=db)
    assert result.exit_code == 0, result.output
    assert _corpus_value("ABW", "1985") == ""  # Aruba before 1986: no value published
    assert not db_rows(db, "SELECT 1 FROM observations WHERE geography = 'ABW' AND period = '1985'")
    assert not db_rows(db, "SELECT 1 FROM observations WHERE geography = 'INX'")  # all empty
    assert db_rows(db, "SELECT count(*) FROM observations WHERE value = 0") == [(0,)]
    kinds = db_rows(
        db,
        "SELECT g.kind, count(DISTINCT o.geography) FROM observations o JOIN geographies g "
        "ON g.id = o.geography GROUP BY g.kind ORDER BY 1",
    )
    assert dict(kinds)["aggregate"] >= 40 and dict(kinds)["country"] >= 200
    assert "cells with no value (empty or '..')" in result.output


def test_reimport_is_idempotent_and_dry_run_writes_nothing(db: Path) -> None:
    before = _counts(db)
    dry = invoke("import", "worldbank", "--dry-run", GDP_API, db=db)
    assert dry.exit_code == 0, dry.output
    assert f"would import {_values_in_corpus():,} values" in dry.output
    assert _counts(db) == before  # not even the source row
    assert invoke("import", "worldbank", GDP_API, db=db).exit_code == 0
    loaded = _counts(db)
    again = invoke("import", "worldbank", GDP_API, db=db)
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output
    assert _counts(db) == loaded
    dry_again = invoke("import", "worldbank", "--dry-run", GDP_API, db=db)
    assert f"0 new, 0 revised, {_values_in_corpus():,} unchanged" in dry_again.output


def test_the_wdi_bulk_layout_and_a_databank_export_give_the_same_figures(
    db: Path, tmp_path: Path
) -> None:
    header, rows = _corpus_rows()
    bulk = tmp_path / "WDICSV.csv"
    with open(bulk, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header[:-1], *(row[:-1] for row in rows)])
    years = [h for h in header if h.isdigit() and h >= "2015"]
    databank = tmp_path / "databank.csv"
    with open(databank, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Country Name", "Country Code", "Series Name", "Series Code",
                         *(f"{y} [YR{y}]" for y in years)])  # fmt: skip
        for row in rows:
            cells = [row[header.index(y)] or ".." for y in years]
            writer.writerow([row[0], row[1], row[2], row[3], *cells])
        handle.write("\n\nData from database: World Development Indicators\n")
        handle.write("Last Updated: 04/28/2022\n")
    result = invoke("import", "worldbank", bulk, db=db)
    assert result.exit_code == 0, result.output
    assert f"{_values_in_corpus():,} new" in result.output
    # the same values from the API download and from DataBank: nothing new, no revision
    for path in (GDP_API, databank):
        again = invoke("import", "worldbank", path, db=db)
        assert again.exit_code == 0, again.output
        assert "nothing new" in again.output
    assert _stored(db, "gdp", "KAZ", "2019")[1] == _corpus_value("KAZ", "2019")
    # DataBank's footer date (unambiguous month/day) is the newest release read
    assert db_rows(db, "SELECT published FROM sources WHERE id = 'worldbank-wdi'")[0][
        0
    ].isoformat() == ("2022-04-28")


def test_unmapped_indicator_codes_are_counted_and_skipped(db: Path) -> None:
    before = _counts(db)
    result = invoke("import", "worldbank", PER_CAPITA, db=db)
    assert result.exit_code == 0, result.output
    _, rows = _corpus_rows(PER_CAPITA)
    assert (
        f"imported 0 values from 1 file(s): 0 new, 0 revised, 0 unchanged. Skipped: "
        f"{len(rows)} rows of 1 indicator code(s) with no mapping (NY.GDP.PCAP.CD)."
    ) in result.output
    assert _counts(db)[:2] == before[:2]


def test_a_bad_cell_names_the_publishers_file_line_and_series(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "wdi.csv"
    path.write_text(
        "Country Name,Country Code,Indicator Name,Indicator Code,2019,2020\n"
        "Kazakhstan,KAZ,GDP (current US$),NY.GDP.MKTP.CD,1.8E11,abc\n"
        "Atlantis,ATL,GDP (current US$),NY.GDP.MKTP.CD,1.8E11,\n",
        encoding="utf-8",
    )
    before = _counts(db)
    result = invoke("import", "worldbank", path, db=db)
    assert result.exit_code == 2
    assert (
        f"{path}:2 (Kazakhstan, KAZ, NY.GDP.MKTP.CD, 2020): column 'value': found 'abc', "
        "expected a number"
    ) in result.output
    assert f"{path}:3 (Atlantis, ATL, NY.GDP.MKTP.CD, 2019): column 'geography'" in result.output
    assert "Traceback" not in result.output and "`tracker import` again" in result.output
    assert _counts(db) == before


def _refused(db: Path, *args: str | Path) -> str:
    before = _counts(db)
    result = invoke("import", "worldbank", *args, db=db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _counts(db) == before
    return " ".join(result.output.split())


def test_files_that_are_not_world_bank_files_are_refused(db: Path, tmp_path: Path) -> None:
    tracker_csv = PROJECT / "data" / "observations" / "aiddata.csv"
    assert "This is tracker's own CSV format: load it with `tracker ingest`" in _refused(
        db, tracker_csv
    )
    sdmx = tmp_path / "exr.xml"
    sdmx.write_text('<?xml version="1.0"?><message:GenericData xmlns:message="x"/>')
    assert "found XML or HTML (an SDMX message? use `tracker import sdmx`)" in _refused(db, sdmx)
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    assert f"{binary}: found a ZIP or Excel file" in _refused(db, binary)
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "Country Name,Country Code,Indicator Name,Indicator Code,2019,20x0\n"
        "Kazakhstan,KAZ,GDP (current US$),NY.GDP.MKTP.CD,1,2\n"
    )
    said = _refused(db, broken)
    assert f"{broken}:1: column 6 of the header is '20x0', which is not a year" in said
    # one refused file among good ones: nothing at all is loaded
    assert "Nothing was loaded" in _refused(db, GDP_API, broken)


def test_mapping_files_with_an_unknown_indicator_or_key_are_refused(
    db: Path, tmp_path: Path
) -> None:
    text = MAPPING.read_text()
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace('indicator = "population"', 'indicator = "populaton"'))
    said = _refused(db, "--map", unknown, GDP_API)
    assert (
        f"{unknown}: key 'series.1.indicator': found 'populaton', unknown indicator. "
        "Did you mean 'population'?"
    ) in said
    bad_key = tmp_path / "bad_key.toml"
    bad_key.write_text(text.replace('unit = "people"', 'units = "people"'))
    said = _refused(db, "--map", bad_key, GDP_API)
    assert f"{bad_key}: key 'series.1'" in said and "'units' was unexpected" in said
    programme = tmp_path / "programme.toml"
    programme.write_text(text.replace('indicator = "gdp"', 'indicator = "gdp"\ninitiative = "BRI"'))
    said = _refused(db, "--map", programme, GDP_API)
    assert f"{programme}: key 'series.0.initiative': 'gdp' is a context indicator" in said
    wrong_unit = tmp_path / "wrong_unit.toml"
    wrong_unit.write_text(text.replace('unit = "people"', 'unit = "km"'))
    said = _refused(db, "--map", wrong_unit, GDP_API)
    assert "key 'series.1.unit': found 'km', which cannot be converted" in said


def test_formats_still_to_come_say_so(db: Path) -> None:
    for name in ():
        result = invoke("import", name, GDP_API, db=db)
        assert result.exit_code == 2
        assert f"`tracker import {name}` is not yet available" in result.output
    as_sdmx = invoke("import", "sdmx", GDP_API, db=db)  # a World Bank CSV is not SDMX-CSV
    assert as_sdmx.exit_code == 2 and as_sdmx.output.startswith(f"{GDP_API}: ")


def test_the_indicator_loader_ignores_the_mappings_folder(db: Path) -> None:
    ids = {row[0] for row in db_rows(db, "SELECT id FROM indicators")}
    assert {"gdp", "population", "fdi_inflows", "exports", "imports"} <= ids
    assert "worldbank-context" not in ids


@pytest.mark.parametrize(
    "path",
    sorted(p for p in WORLD_BANK.iterdir() if p.is_file()),
    ids=lambda p: p.name,
)
def test_every_world_bank_corpus_file_is_read_or_refused_cleanly(db: Path, path: Path) -> None:
    before = _counts(db)
    result = invoke("import", "worldbank", path, db=db)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    if result.exit_code == 2:
        assert str(path) in result.output
        assert _counts(db) == before
    elif path.suffix == ".csv":
        assert "imported" in result.output

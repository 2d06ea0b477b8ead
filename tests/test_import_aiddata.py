"""`tracker import aiddata`: AidData GCDF 3.0 project records through the real command into a
real DuckDB file: the `projects` table and its vintages, the derived indicators, refusals.

The fixture, data/imports/aiddata-gcdf3-malaysia-extract.csv, is the published header and the
first four records of AidData's Malaysia extract, copied byte for byte (data/imports/README.md).
Tests that need other cases (a revision, a record not recommended for aggregates, energy and
transport sectors, a regional recipient, broken cells) write a copy of it with the cells they
change, and say which.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import PROJECT, db_rows, invoke
from tracker.definitions.indicators import load_indicator
from tracker.errors import DefinitionError

EXTRACT = PROJECT / "data" / "imports" / "aiddata-gcdf3-malaysia-extract.csv"
SOURCE = "aiddata-gcdf-3-records"
AMOUNT = "Amount (Constant USD 2021)"


@pytest.fixture
def db(empty_db: Path) -> Path:
    """An initialised database with no observations (conftest's `empty_db`)."""
    return empty_db


def _records(path: Path = EXTRACT) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a GCDF CSV, read with Python's csv module."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _changed(tmp_path: Path, name: str, changes: dict[tuple[str, str], str]) -> Path:
    """A copy of the extract with cells changed: (AidData Record ID, column) -> new text."""
    header, rows = _records()
    for (record, column), text in changes.items():
        row = next(r for r in rows if r[0] == record)
        row[header.index(column)] = text
    return _write(tmp_path / name, header, rows)


def _derived(db: Path, indicator: str) -> dict[tuple[str, str], tuple[object, ...]]:
    rows = db_rows(
        db,
        "SELECT geography, period, value, currency, note, initiative FROM observations_current "
        "WHERE indicator = ? AND source = ? ORDER BY ALL",
        [indicator, SOURCE],
    )
    return {(str(r[0]), str(r[1])): r[2:] for r in rows}


def _state(db: Path) -> tuple[object, ...]:
    return db_rows(
        db,
        "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches), "
        "(SELECT count(*) FROM sources), (SELECT count(*) FROM projects)",
    )[0]


def _in_bn(total: float) -> Decimal:
    """A derived sum as stored: whole US dollars, in USD bn, exactly."""
    return Decimal(f"{total:.0f}").scaleb(-9)


def _amounts(*records: str) -> float:
    header, rows = _records()
    column = header.index(AMOUNT)
    return sum(float(r[column]) for r in rows if r[0] in records and r[column])


def test_the_published_extract_loads_each_record_and_its_derived_figures(db: Path) -> None:
    article = PROJECT / "data" / "observations" / "aiddata.csv"
    assert invoke("ingest", article, db=db).exit_code == 0  # batch 1
    typed_in = db_rows(db, "SELECT * FROM observations WHERE source = 'aiddata-gcdf-3'")
    result = invoke("import", "aiddata", EXTRACT, db=db)
    assert result.exit_code == 0, result.output
    assert "imported 2 values from 1 file(s) as batch 2: 2 new" in result.output
    assert "Project records: 4 read, recorded in batch 2: 4 new, 0 revised, 0 unchanged." in (
        result.output
    )
    header, rows = _records()
    stored = db_rows(
        db,
        "SELECT record_id, recommended_for_aggregates, title, recipient, recipient_iso3, "
        "commitment_year, commitment_date, sector_code, sector_name, amount_original, "
        "original_currency, amount_constant_usd_2021, amount_nominal_usd, source_urls, batch "
        "FROM projects_current ORDER BY line",
    )
    assert [str(r[0]) for r in stored] == [row[0] for row in rows]
    for row, got in zip(rows, stored, strict=True):
        cell = dict(zip(header, row, strict=True))
        assert got[1] is (cell["Recommended For Aggregates"] == "Yes")
        assert got[2:5] == (cell["Title"], cell["Recipient"], cell["Recipient ISO-3"])
        assert got[5] == int(cell["Commitment Year"])
        assert str(got[6]) == cell["Commitment Date (MM/DD/YYYY)"]
        assert (got[7], got[8]) == (int(cell["Sector Code"]), cell["Sector Name"])
        for value, column in ((got[9], "Amount (Original Currency)"), (got[11], AMOUNT),
                              (got[12], "Amount (Nominal USD)")):  # fmt: skip
            assert value == (float(cell[column]) if cell[column] else None)
        assert got[10] == (cell["Original Currency"] or None)
        assert got[13] == cell["Source URLs"].split("|")
        assert got[14] == 2
    # 4 records recommended for aggregates, all Malaysia 2021; one has no amount
    assert _derived(db, "new_deals") == {
        ("MYS", "2021"): (
            4.0, None,
            "Count of AidData GCDF project records: 4 records recommended for aggregates, "
            "commitment year 2021.", "CHN_ODF",
        )
    }  # fmt: skip
    value, currency, note, initiative = _derived(db, "new_deal_value")[("MYS", "2021")]
    assert value == _in_bn(_amounts("96203", "96083", "96085"))
    assert (currency, initiative) == ("USD", "CHN_ODF")
    assert note == (
        "Sum of Amount (Constant USD 2021), constant 2021 USD, to the nearest dollar, over "
        "3 of 4 records recommended for aggregates, commitment year 2021; 1 of them without "
        "an amount, not in the sum."
    )
    # no record of these sectors in the extract: no figure, never a zero
    assert _derived(db, "new_deals_energy") == {} == _derived(db, "new_deal_value_transport")
    files, sha256 = db_rows(db, "SELECT files, sha256 FROM batches WHERE id = 2")[0]
    assert files == [str(EXTRACT)]
    assert sha256 == [hashlib.sha256(EXTRACT.read_bytes()).hexdigest()]
    title, publisher, note = db_rows(
        db, "SELECT title, publisher, note FROM sources WHERE id = ?", [SOURCE]
    )[0]
    assert "Global Chinese Development Finance" in str(title) and "AidData" in str(publisher)
    assert "ODC-By" in str(note)
    # the figures typed in from an article stay apart: another source, untouched
    assert len(typed_in) == 1
    assert db_rows(db, "SELECT * FROM observations WHERE source = 'aiddata-gcdf-3'") == typed_in


def test_importing_the_same_records_again_writes_nothing(db: Path) -> None:
    assert invoke("import", "aiddata", EXTRACT, db=db).exit_code == 0
    before = _state(db)
    result = invoke("import", "aiddata", EXTRACT, db=db)
    assert result.exit_code == 0, result.output
    assert "nothing new: all 2 values" in result.output
    assert "Project records: 4 read, recorded: 0 new, 0 revised, 4 unchanged." in result.output
    assert _state(db) == before


def test_a_revised_record_is_a_new_vintage_and_moves_the_derived_figures(
    db: Path, tmp_path: Path
) -> None:
    assert invoke("import", "aiddata", EXTRACT, db=db).exit_code == 0
    # the test changes two cells: an amount revised, a record moved to another year
    revised = _changed(
        tmp_path,
        "revised.csv",
        {("96083", AMOUNT): "30000.0", ("96085", "Commitment Year"): "2020"},
    )
    result = invoke("import", "aiddata", revised, db=db)
    assert result.exit_code == 0, result.output
    assert "Project records: 4 read, recorded in batch 2: 0 new, 2 revised, 2 unchanged." in (
        result.output
    )
    history = db_rows(
        db,
        "SELECT amount_constant_usd_2021, batch, superseded_at IS NULL FROM projects "
        "WHERE record_id = 96083 ORDER BY recorded_at",
    )
    assert history == [(_amounts("96083"), 1, False), (30000.0, 2, True)]
    counts = _derived(db, "new_deals")
    assert (counts[("MYS", "2021")][0], counts[("MYS", "2020")][0]) == (3.0, 1.0)
    assert _derived(db, "new_deal_value")[("MYS", "2021")][0] == _in_bn(_amounts("96203") + 30000.0)
    # the original again: 2020 has no record now, so its figure is 0, saying why
    assert invoke("import", "aiddata", EXTRACT, db=db).exit_code == 0
    value, _, note, _ = _derived(db, "new_deals")[("MYS", "2020")]
    assert value == 0.0
    assert str(note).startswith("No records recommended for aggregates with commitment year 2020")
    assert _derived(db, "new_deals")[("MYS", "2021")][0] == 4.0


def test_only_records_recommended_for_aggregates_count_and_sectors_split(
    db: Path, tmp_path: Path
) -> None:
    # changed by the test: one record not recommended, two records given the published
    # sector names of energy and transport, one regional recipient (no ISO-3 of a country)
    path = _changed(
        tmp_path,
        "sectors.csv",
        {
            ("96083", "Recommended For Aggregates"): "No",
            ("96203", "Sector Name"): "ENERGY",
            ("96085", "Sector Name"): "TRANSPORT AND STORAGE",
            ("96082", "Recipient ISO-3"): "",
        },
    )
    result = invoke("import", "aiddata", path, db=db)
    assert result.exit_code == 0, result.output
    assert "new_deals: 1 record(s) left out: their recipient is not one country" in result.output
    assert _derived(db, "new_deals")[("MYS", "2021")][0] == 2.0  # 96203, 96085
    assert _derived(db, "new_deals_energy")[("MYS", "2021")][0] == 1.0
    assert _derived(db, "new_deals_transport")[("MYS", "2021")][0] == 1.0
    assert _derived(db, "new_deal_value_energy")[("MYS", "2021")][0] == _in_bn(_amounts("96203"))
    assert _derived(db, "new_deal_value_transport")[("MYS", "2021")][0] == _in_bn(_amounts("96085"))
    assert db_rows(db, "SELECT count(*) FROM projects") == [(4,)]  # every record is kept


def test_a_workbook_loads_as_its_csv_and_one_without_a_data_sheet_is_refused(
    db: Path, tmp_path: Path
) -> None:
    header, rows = _records()
    frame = pl.DataFrame(rows, schema=header, orient="row")
    book = tmp_path / "gcdf.xlsx"
    import xlsxwriter

    with xlsxwriter.Workbook(book) as workbook:
        workbook.add_worksheet("Read Me").write(0, 0, "AidData GCDF 3.0")
        frame.write_excel(workbook, worksheet="GCDF_3.0")
    result = invoke("import", "aiddata", book, db=db)
    assert result.exit_code == 0, result.output
    assert _derived(db, "new_deals")[("MYS", "2021")][0] == 4.0
    assert db_rows(db, "SELECT min(line), max(line) FROM projects") == [(2, 5)]

    empty = tmp_path / "notes.xlsx"
    with xlsxwriter.Workbook(empty) as workbook:
        workbook.add_worksheet("Notes").write(0, 0, "nothing here")
    before = _state(db)
    result = invoke("import", "aiddata", empty, db=db)
    assert result.exit_code == 2
    assert "no sheet of the workbook (sheets: 'Notes') has a header row with 'AidData" in (
        " ".join(result.output.split())
    )
    assert "Traceback" not in result.output
    assert _state(db) == before


def _refused(db: Path, *files: Path) -> str:
    before = _state(db)
    result = invoke("import", "aiddata", *files, db=db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _state(db) == before
    return " ".join(result.output.split())


def test_files_that_are_not_gcdf_records_are_refused_naming_what_was_expected(
    db: Path, tmp_path: Path
) -> None:
    header, rows = _records()
    at = header.index("Recommended For Aggregates")
    missing = _write(tmp_path / "missing.csv", header[:at] + header[at + 1 :],
                     [r[:at] + r[at + 1 :] for r in rows])  # fmt: skip
    said = _refused(db, missing)
    assert f"{missing}: the header has no column 'Recommended For Aggregates'" in said

    dotted = _write(tmp_path / "dotted.csv", [h.replace(" ", ".") for h in header], rows)
    said = _refused(db, dotted)
    assert "no 'AidData Record ID' column (the header writes the names with dots" in said

    own = PROJECT / "data" / "observations" / "aiddata.csv"
    said = _refused(db, own)
    assert f"{own}: no 'AidData Record ID' column; expected an AidData GCDF 3.0 project file" in (
        said
    )
    xml = tmp_path / "data.xml"
    xml.write_text("<message/>")
    assert "found XML or HTML" in _refused(db, xml)


def test_bad_cells_are_refused_with_file_line_and_column(db: Path, tmp_path: Path) -> None:
    path = _changed(
        tmp_path,
        "bad.csv",
        {("96083", AMOUNT): "about 24k", ("96085", "Recommended For Aggregates"): "maybe"},
    )
    said = _refused(db, path)
    assert (f"{path}:4: column 'Amount (Constant USD 2021)': found 'about 24k', expected a "
            "number (1500000.0) or nothing.") in said  # fmt: skip
    assert (
        f"{path}:5: column 'Recommended For Aggregates': found 'maybe', expected 'Yes' or 'No'."
        in said
    )


def test_a_record_given_twice_is_refused(db: Path, tmp_path: Path) -> None:
    header, rows = _records()
    twice = _write(tmp_path / "twice.csv", header, [*rows, rows[0]])
    assert "the same AidData Record ID on more than one row (96203 on lines 2, 6)" in _refused(
        db, twice
    )
    other = _write(tmp_path / "other.csv", header, rows[:1])
    said = _refused(db, EXTRACT, other)
    assert "the same AidData Record ID 96203 in two files of one import" in said


def test_a_dry_run_reads_and_derives_but_writes_nothing(db: Path) -> None:
    before = _state(db)
    result = invoke("import", "aiddata", EXTRACT, "--dry-run", db=db)
    assert result.exit_code == 0, result.output
    assert "would import 2 values from 1 file(s): 2 new" in result.output
    assert "Project records: 4 read, would record: 4 new" in result.output
    assert _state(db) == before


@pytest.mark.parametrize(
    ("derived", "key"),
    [
        ('aggregate = "sum"\nunit = "USD"', "derived.column"),
        ('aggregate = "count"\nunit = "count"\ncolumn = "amount_nominal_usd"', "derived.column"),
        ('aggregate = "count"\nunit = "km"', "derived.unit"),
    ],
)
def test_a_derived_table_that_does_not_fit_is_refused_naming_the_key(
    tmp_path: Path, derived: str, key: str
) -> None:
    path = tmp_path / "x_deals.toml"
    path.write_text(
        'id = "x_deals"\nname = "x"\ndescription = "x"\nunit = "count"\nmeasure = "flow"\n'
        'frequency = "annual"\ncategory = "finance"\ndefault_initiative = "CHN_ODF"\n'
        '[derived]\nfrom = "projects"\nfilters = {recommended_for_aggregates = true}\n'
        f'geography = "recipient_iso3"\nperiod = "commitment_year"\nlabel = "records"\n{derived}\n'
    )
    with pytest.raises(DefinitionError, match=f"key '{key}'"):
        load_indicator(path)


def test_a_derived_table_must_keep_to_the_records_recommended_for_aggregates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x_deals.toml"
    path.write_text(
        'id = "x_deals"\nname = "x"\ndescription = "x"\nunit = "count"\nmeasure = "flow"\n'
        'frequency = "annual"\ncategory = "finance"\ndefault_initiative = "CHN_ODF"\n'
        '[derived]\nfrom = "projects"\naggregate = "count"\nunit = "count"\n'
        'filters = {sector_name = ["ENERGY"]}\ngeography = "recipient_iso3"\n'
        'period = "commitment_year"\nlabel = "records"\n'
    )
    with pytest.raises(DefinitionError, match="recommended_for_aggregates"):
        load_indicator(path)


def test_a_country_profile_shows_the_countrys_commitments_by_year_and_sector(
    db: Path, tmp_path: Path
) -> None:
    assert invoke("import", "aiddata", EXTRACT, db=db).exit_code == 0
    out = tmp_path / "out"
    result = invoke("brief", "country-profile", "--param", "geography=MYS", "--out", out,
                    "--format", "html", db=db)  # fmt: skip
    assert result.exit_code == 0, result.output
    (page,) = out.rglob("country-profile--geography-MYS.html")
    text = " ".join(re.sub(r"<[^>]+>", " ", page.read_text("utf-8")).split())
    assert "Chinese official finance committed to Malaysia (AidData)" in text
    assert "New deals signed CHN_ODF, Malaysia 4 deals 2021" in text
    assert "Chinese official finance: value committed to Malaysia, by commitment year" in text
    # no energy or transport record in the extract: those fold into the 'not tracked' line
    assert "Not yet tracked for Malaysia:" in text and "New deals signed: energy" in text

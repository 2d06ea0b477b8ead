"""`ingest.load` (prepare + write_batch) on real files and a real DuckDB database.

Every refusal is checked for its exact message and for leaving the database unchanged.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import invoke
from tracker import ingest, store
from tracker.errors import IngestError
from tracker.models import BatchSummary

HEADER = "indicator,initiative,geography,period,value,unit,source,note"
SOURCE = "gfdc-bri-2023"


# --- helpers -------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    """A file with exactly these bytes (no newline translation)."""
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def long_csv(folder: Path, name: str, *rows: str, header: str = HEADER) -> Path:
    return write(folder, name, "\n".join([header, *rows]) + "\n")


def load(db: Path, *paths: Path, **options: Any) -> tuple[ingest.PreparedBatch, BatchSummary]:
    """What `tracker ingest` does: one transaction around prepare and write_batch."""
    with store.connect(db) as conn, store.transaction(conn):
        return ingest.load(conn, list(paths), ingest.IngestOptions(**options))


def snapshot(db: Path) -> tuple[Any, ...]:
    """Counts and checksums of observations, batches and sources."""
    with store.connect(db, read_only=True) as conn:
        frame = store.query(
            conn,
            """
            SELECT (SELECT count(*) FROM observations) AS observations,
                   (SELECT count(*) FROM batches) AS batches,
                   (SELECT count(*) FROM sources) AS sources,
                   (SELECT bit_xor(hash(indicator, initiative, geography, period, source,
                                        value, currency, value_as_given, unit_as_given, note,
                                        batch, recorded_at, superseded_at))
                    FROM observations) AS observations_hash,
                   (SELECT bit_xor(hash(id, title, url, kind, note)) FROM sources)
                       AS sources_hash
            """,
        )
    return tuple(frame.row(0))


def refuse(db: Path, *paths: Path, **options: Any) -> IngestError:
    """Run a load that must be refused; the database must be unchanged afterwards."""
    before = snapshot(db)
    with pytest.raises(IngestError) as caught:
        load(db, *paths, **options)
    assert snapshot(db) == before
    return caught.value


def problems(db: Path, *paths: Path, **options: Any) -> list[str]:
    return refuse(db, *paths, **options).problems


def batch_rows(db: Path, batch: int | None) -> list[dict[str, Any]]:
    with store.connect(db, read_only=True) as conn:
        frame = store.query(
            conn,
            "SELECT * EXCLUDE (batch, recorded_at) FROM observations_current WHERE batch = ? "
            "ORDER BY indicator, initiative, geography, period",
            [batch],
        )
    return frame.to_dicts()


# --- interface -----------------------------------------------------------------------------


def test_observation_columns_are_the_stores() -> None:
    assert ingest.OBSERVATION_COLUMNS == store.OBSERVATION_COLUMNS


def test_prepared_rows_have_the_documented_types(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "a.csv", f"financing,GG,WLD,2019,179,EUR bn,{SOURCE},a note")
    prepared, _ = load(tracker_db, path)
    assert prepared.rows.columns == list(store.OBSERVATION_COLUMNS)
    types = {name: str(dtype) for name, dtype in prepared.rows.schema.items()}
    assert types == {
        "indicator": "String", "initiative": "String", "geography": "String",
        "period": "String", "period_start": "Date", "period_end": "Date", "source": "String",
        "value": "Decimal(precision=38, scale=12)", "currency": "String",
        "value_as_given": "String",
        "unit_as_given": "String", "note": "String", "qualifier": "String",
        "contributor": "String",
    }  # fmt: skip
    assert prepared.files == (str(path),)
    assert len(prepared.sha256s[0]) == 64
    assert prepared.new_sources.columns == ["id", "title", "url", "kind", "note"]


# --- values, units, periods, names ---------------------------------------------------------


def test_values_are_scaled_to_the_indicators_unit_and_money_keeps_its_currency(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = long_csv(
        tmp_path, "units.csv",
        f"power_capacity,BRI,WLD,2019,500,MW,{SOURCE},",
        f"power_capacity,BRI,WLD,2020,1.5,GW,{SOURCE},",
        f"financing,GG,WLD,2019,179,EUR bn,{SOURCE},",
        f"financing,PGII,WLD,2019,500,USD m,{SOURCE},",
        f"financing,BRI,WLD,2019,1.34,USD tn,{SOURCE},",
        f'financing,CHN_ODF,WLD,2019,"1,234.5",bn,{SOURCE},',
        f"new_deals,BRI,WLD,2019,1e3,,{SOURCE},",
        f"new_deals,BRI,WLD,2020,-3,count,{SOURCE},",
        f"new_deals,BRI,WLD,2021,2,thousand,{SOURCE},",
    )  # fmt: skip
    _, summary = load(tracker_db, path)
    got = {
        (r["indicator"], r["initiative"], r["period"]): (
            r["value"],
            r["currency"],
            r["value_as_given"],
            r["unit_as_given"],
        )
        for r in batch_rows(tracker_db, summary.batch_id)
    }
    assert got == {
        ("power_capacity", "BRI", "2019"): (0.5, None, "500", "MW"),
        ("power_capacity", "BRI", "2020"): (1.5, None, "1.5", "GW"),
        ("financing", "GG", "2019"): (179.0, "EUR", "179", "EUR bn"),
        ("financing", "PGII", "2019"): (0.5, "USD", "500", "USD m"),
        ("financing", "BRI", "2019"): (1340.0, "USD", "1.34", "USD tn"),
        ("financing", "CHN_ODF", "2019"): (1234.5, "USD", "1,234.5", "bn"),
        ("new_deals", "BRI", "2019"): (1000.0, None, "1e3", "count"),
        ("new_deals", "BRI", "2020"): (-3.0, None, "-3", "count"),
        ("new_deals", "BRI", "2021"): (2000.0, None, "2", "thousand"),
    }


def test_periods_are_canonical_with_first_and_last_day(tracker_db: Path, tmp_path: Path) -> None:
    rows = [f"new_deals,BRI,KEN,{p},1,,{SOURCE}," for p in
            ("2024", "2024-h1", "2024-Q3", "2024-07", "2024-07-15", " 2023 ")]  # fmt: skip
    _, summary = load(tracker_db, long_csv(tmp_path, "p.csv", *rows))
    got = {
        r["period"]: (r["period_start"], r["period_end"])
        for r in batch_rows(tracker_db, summary.batch_id)
    }
    assert got == {
        "2023": (date(2023, 1, 1), date(2023, 12, 31)),
        "2024": (date(2024, 1, 1), date(2024, 12, 31)),
        "2024-H1": (date(2024, 1, 1), date(2024, 6, 30)),
        "2024-Q3": (date(2024, 7, 1), date(2024, 9, 30)),
        "2024-07": (date(2024, 7, 1), date(2024, 7, 31)),
        "2024-07-15": (date(2024, 7, 15), date(2024, 7, 15)),
    }


def test_geographies_match_ids_and_names_in_any_case_and_default_to_world(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = long_csv(
        tmp_path, "g.csv",
        f"new_deals,BRI,kaz,2019,1,,{SOURCE},",
        f"new_deals,BRI,Kyrgyzstan,2019,1,,{SOURCE},",
        f"new_deals,BRI,central-asia,2019,1,,{SOURCE},",
        f"new_deals,BRI,CENTRAL ASIA,2020,1,,{SOURCE},",
        f"new_deals,BRI,,2019,1,,{SOURCE},",
    )  # fmt: skip
    _, summary = load(tracker_db, path)
    got = sorted((r["geography"], r["period"]) for r in batch_rows(tracker_db, summary.batch_id))
    assert got == [
        ("KAZ", "2019"), ("KGZ", "2019"), ("WLD", "2019"),
        ("central-asia", "2019"), ("central-asia", "2020"),
    ]  # fmt: skip


def test_empty_initiative_takes_the_indicators_default(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(
        tmp_path, "i.csv",
        f"trade_central_asia,,central-asia,2019,70,,{SOURCE},",
        f"financing,pgii,WLD,2019,1,,{SOURCE},",
    )  # fmt: skip
    _, summary = load(tracker_db, path)
    got = {r["indicator"]: r["initiative"] for r in batch_rows(tracker_db, summary.batch_id)}
    assert got == {"trade_central_asia": "BRI", "financing": "PGII"}


def test_optional_columns_may_be_absent_and_headers_are_trimmed_in_any_case(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "min.csv", " Indicator ,PERIOD, Value,Source\nnew_deals,2019,4,gfdc-bri-2023\n"
    )
    _, summary = load(tracker_db, path)
    [row] = batch_rows(tracker_db, summary.batch_id)
    assert (row["initiative"], row["geography"], row["unit_as_given"], row["note"]) == (
        "BRI",
        "WLD",
        "count",
        None,
    )


def test_notes_are_trimmed_and_empty_notes_are_null(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(
        tmp_path, "n.csv",
        f'new_deals,BRI,WLD,2019,1,,{SOURCE},"  a ""quoted"", note  "',
        f"new_deals,BRI,WLD,2020,1,,{SOURCE},   ",
    )  # fmt: skip
    _, summary = load(tracker_db, path)
    assert [r["note"] for r in batch_rows(tracker_db, summary.batch_id)] == [
        'a "quoted", note',
        None,
    ]


# --- file forms ----------------------------------------------------------------------------


def test_bom_crlf_and_quoted_newlines_load(tracker_db: Path, tmp_path: Path) -> None:
    text = (
        f"\ufeff{HEADER}\r\n"
        f'new_deals,BRI,WLD,2019,1,,{SOURCE},"two\r\nlines"\r\n'
        f"new_deals,BRI,WLD,2020,2,,{SOURCE},\r\n"
    )
    _, summary = load(tracker_db, write(tmp_path, "bom.csv", text))
    rows = batch_rows(tracker_db, summary.batch_id)
    assert [(r["period"], r["value"], r["note"]) for r in rows] == [
        ("2019", 1.0, "two\r\nlines"), ("2020", 2.0, None)
    ]  # fmt: skip


def test_semicolon_or_tab_delimiter_is_found_from_the_header(
    tracker_db: Path, tmp_path: Path
) -> None:
    semi = write(
        tmp_path, "semi.csv", f"{HEADER.replace(',', ';')}\nnew_deals;BRI;WLD;2019;1;;{SOURCE};\n"
    )
    tab = write(
        tmp_path,
        "tab.tsv",
        f"{HEADER.replace(',', chr(9))}\nnew_deals\tBRI\tWLD\t2020\t2\t\t{SOURCE}\t\n",
    )
    _, summary = load(tracker_db, semi, tab)
    assert summary.rows_new == 2


def test_delimiter_option_is_used(tracker_db: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pipe.csv",
        f"{HEADER.replace(',', '|')}\nnew_deals|BRI|WLD|2019|1||{SOURCE}|a, b\n",
    )
    _, summary = load(tracker_db, path, delimiter="|")
    assert batch_rows(tracker_db, summary.batch_id)[0]["note"] == "a, b"


def test_latin1_file_loads_with_the_encoding_option(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "l1.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE},café")
    path.write_bytes(path.read_text().encode("latin-1"))
    _, summary = load(tracker_db, path, encoding="latin-1")
    assert batch_rows(tracker_db, summary.batch_id)[0]["note"] == "café"


def test_blank_lines_and_rows_of_empty_fields_are_skipped(tracker_db: Path, tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n\nnew_deals,BRI,WLD,2019,1,,{SOURCE},\n,,,,,,,\n\n"
        f"new_deals,BRI,WLD,2020,1,,{SOURCE},\n\n\n"
    )
    prepared, _ = load(tracker_db, write(tmp_path, "blank.csv", text))
    assert prepared.rows["period"].to_list() == ["2019", "2020"]


def test_wide_file_is_unpivoted_and_cells_without_value_are_skipped(
    tracker_db: Path, tmp_path: Path
) -> None:
    text = (
        "indicator,initiative,geography,unit,source,2019,2020,2021,2022,2023,2024-H1,2024\n"
        f"new_deals,BRI,KEN,count,{SOURCE},1,..,NA,n/a,-,,6\n"
        f"power_capacity,BRI,KEN,MW,{SOURCE},500, N/A ,3000,,,,\n"
    )
    _, summary = load(tracker_db, write(tmp_path, "wide.csv", text))
    got = {
        (r["indicator"], r["period"]): r["value"] for r in batch_rows(tracker_db, summary.batch_id)
    }
    assert got == {
        ("new_deals", "2019"): 1.0, ("new_deals", "2024"): 6.0,
        ("power_capacity", "2019"): 0.5, ("power_capacity", "2021"): 3.0,
    }  # fmt: skip


def test_wide_file_with_only_empty_cells_loads_nothing_and_says_so(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "w.csv", f"indicator,source,2019\nnew_deals,{SOURCE},..\n")
    prepared, _ = load(tracker_db, path)
    assert prepared.rows.height == 0
    assert prepared.warnings == (f"{path}: no values found; nothing to load",)


# --- sources -------------------------------------------------------------------------------


def test_free_text_source_is_registered_as_an_unspecified_source(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = long_csv(
        tmp_path, "s.csv",
        "new_deals,BRI,WLD,2019,1,,\"IMF WEO, April 2025\",",
        "new_deals,BRI,WLD,2020,1,,https://example.org/table.csv,",
    )  # fmt: skip
    prepared, summary = load(tracker_db, path)
    imf, url = (
        "src-" + ingest_id("IMF WEO, April 2025"),
        "src-" + ingest_id("https://example.org/table.csv"),
    )
    assert sorted(prepared.new_sources.rows()) == sorted(
        [
            (imf, "IMF WEO, April 2025", None, "unspecified",
             f"registered by tracker ingest from {path.name}"),
            (url, "https://example.org/table.csv", "https://example.org/table.csv",
             "unspecified", f"registered by tracker ingest from {path.name}"),
        ]
    )  # fmt: skip
    assert {r["source"] for r in batch_rows(tracker_db, summary.batch_id)} == {imf, url}
    with store.connect(tracker_db, read_only=True) as conn:
        kinds = store.query(conn, "SELECT kind FROM sources WHERE id = ?", [imf])["kind"]
    assert kinds.to_list() == ["unspecified"]
    # a second load finds the registered citation by its title: nothing new to register
    again = long_csv(tmp_path, "s2.csv", 'new_deals,BRI,WLD,2021,1,,"IMF WEO, April 2025",')
    prepared, _ = load(tracker_db, again)
    assert prepared.new_sources.height == 0
    assert prepared.rows["source"].to_list() == [imf]


def ingest_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def test_source_option_fills_rows_without_a_source(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "nos.csv", "indicator,period,value\nnew_deals,2019,1\n")
    prepared, _ = load(tracker_db, path, source="griffith-bri-2024")
    assert prepared.rows["source"].to_list() == ["griffith-bri-2024"]
    mixed = long_csv(
        tmp_path, "mixed.csv",
        "new_deals,BRI,WLD,2020,1,,,", f"new_deals,BRI,WLD,2021,1,,{SOURCE},",
    )  # fmt: skip
    prepared, _ = load(tracker_db, mixed, source="synthetic test data, not real figures")
    new_id = "src-" + ingest_id("synthetic test data, not real figures")
    assert prepared.rows["source"].to_list() == [new_id, SOURCE]
    assert prepared.new_sources.rows() == [
        (new_id, "synthetic test data, not real figures", None, "unspecified",
         f"registered by tracker ingest from {mixed.name}")
    ]  # fmt: skip


def test_a_known_source_title_resolves_to_its_id(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(
        tmp_path, "t.csv", "new_deals,BRI,WLD,2019,1,,China BRI Investment Report 2024,"
    )
    prepared, _ = load(tracker_db, path)
    assert prepared.rows["source"].to_list() == ["griffith-bri-2024"]
    assert prepared.new_sources.height == 0


# --- batches: duplicates, revisions, reloads -----------------------------------------------


def test_a_point_given_twice_with_the_same_value_is_loaded_once(
    tracker_db: Path, tmp_path: Path
) -> None:
    a = long_csv(tmp_path, "a.csv", f"new_deals,BRI,WLD,2019,12,,{SOURCE},")
    b = long_csv(tmp_path, "b.csv", f"new_deals,BRI,WLD,2019,12.0,count,{SOURCE},")
    prepared, summary = load(tracker_db, a, b)
    assert (prepared.rows.height, summary.rows_new) == (1, 1)
    assert prepared.warnings == (
        f"{b}: 1 row(s) repeat a point given earlier in this call with the same value; loaded once",
    )


def test_a_point_given_twice_with_different_values_is_refused_naming_both_places(
    tracker_db: Path, tmp_path: Path
) -> None:
    a = long_csv(tmp_path, "a.csv", f"new_deals,BRI,WLD,2019,12,,{SOURCE},")
    b = long_csv(
        tmp_path, "b.csv", f"new_deals,BRI,WLD,2020,1,,{SOURCE},", f"new_deals,,,2019,13,,{SOURCE},"
    )
    assert problems(tracker_db, a, b) == [
        f"{b}:3: column 'value': found '13', but the same point (indicator 'new_deals', "
        f"initiative 'BRI', geography 'WLD', period '2019', source '{SOURCE}') is also given "
        f"as 12 at {a}:2; give each point once"
    ]


def test_a_revised_value_adds_a_vintage_and_supersedes_the_old_one(
    tracker_db: Path, tmp_path: Path
) -> None:
    first = long_csv(tmp_path, "v1.csv", f"new_deals,BRI,KEN,2019,12,,{SOURCE},")
    second = long_csv(tmp_path, "v2.csv", f"new_deals,BRI,KEN,2019,14,,{SOURCE},revised")
    load(tracker_db, first)
    _, summary = load(tracker_db, second)
    assert (summary.rows_new, summary.rows_revised, summary.rows_unchanged) == (0, 1, 0)
    with store.connect(tracker_db, read_only=True) as conn:
        vintages = store.query(
            conn,
            "SELECT value, note, superseded_at IS NULL AS current FROM observations "
            "WHERE indicator = 'new_deals' AND geography = 'KEN' ORDER BY recorded_at",
        )
    assert vintages.rows() == [(12.0, None, False), (14.0, "revised", True)]


def test_loading_the_same_file_twice_changes_nothing(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "same.csv", f"new_deals,BRI,KEN,2019,12,,{SOURCE},")
    load(tracker_db, path)
    before = snapshot(tracker_db)
    _, summary = load(tracker_db, path)
    assert (summary.rows_new, summary.rows_revised, summary.rows_unchanged) == (0, 0, 1)
    assert snapshot(tracker_db) == before


def test_the_shipped_files_load_again_unchanged(tracker_db: Path) -> None:
    shipped = sorted((Path(__file__).resolve().parents[1] / "data" / "observations").glob("*.csv"))
    prepared, summary = load(tracker_db, *shipped)
    assert summary.rows_unchanged == prepared.rows.height > 0
    assert summary.rows_new == summary.rows_revised == 0


# --- refusals: the file as a whole ---------------------------------------------------------


def test_empty_file_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "")
    assert problems(tracker_db, path) == [
        f"{path}: the file is empty; expected a header line such as "
        "indicator,initiative,geography,period,value,unit,source,note,qualifier,contributor"
    ]


def test_header_without_rows_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "header.csv", HEADER + "\r\n")
    assert problems(tracker_db, path) == [f"{path}: the file has a header but no data rows"]


def test_binary_file_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)))
    assert problems(tracker_db, path) == [f"{path}: this looks like a binary file, not CSV"]


def test_text_full_of_control_bytes_is_refused_as_binary(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "ctl.csv", bytes(range(1, 32)) * 40)
    assert problems(tracker_db, path) == [f"{path}: this looks like a binary file, not CSV"]


def test_utf16_file_is_refused_with_the_option_to_use(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "u16.csv", f"{HEADER}\n", encoding="utf-16")
    assert problems(tracker_db, path) == [
        f"{path}: the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
        "run again with --encoding utf-16"
    ]
    _, summary = load(
        tracker_db,
        write(tmp_path, "u16b.csv", f"{HEADER}\nnew_deals,BRI,KEN,2019,1,,{SOURCE},\n", "utf-16"),
        encoding="utf-16",
    )
    assert summary.rows_new == 1


def test_latin1_bytes_are_refused_naming_line_and_column(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "l1.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE},",
                    f"new_deals,BRI,WLD,2020,1,,{SOURCE},café")  # fmt: skip
    path.write_bytes(path.read_text().encode("latin-1"))
    assert problems(tracker_db, path) == [
        f"{path}:3: the file is not valid UTF-8 (byte 0xE9 at column 44); if it is Latin-1 or "
        "Windows-1252, run again with --encoding latin-1 (or cp1252)"
    ]


def test_bad_options_are_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "a.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE},")
    assert problems(tracker_db, path, encoding="klingon") == [
        "--encoding: found 'klingon', expected a Python codec name such as utf-8, latin-1 or cp1252"
    ]
    assert problems(tracker_db, path, delimiter=";;") == [
        "--delimiter: found ';;', expected one character such as ',' ';' '|' or a tab (\\t)"
    ]
    assert problems(tracker_db, path, source="gfdc-bri-2033") == [
        "--source: found 'gfdc-bri-2033', unknown source; did you mean 'gfdc-bri-2023'?"
    ]


def test_missing_file_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    assert problems(tracker_db, path) == [f"{path}: cannot be read (No such file or directory)"]


def test_ragged_rows_are_refused_with_their_lines(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(
        tmp_path, "ragged.csv",
        f"new_deals,BRI,WLD,2019,1,,{SOURCE},",
        f"new_deals,BRI,WLD,2020,1,,{SOURCE},,extra",
        "new_deals,BRI,WLD,2021,1",
        f"new_deals,BRI,WLD,2022,x,,{SOURCE},",
    )  # fmt: skip
    assert problems(tracker_db, path) == [
        f"{path}:3: found 9 fields, expected 8 (as in the header)",
        f"{path}:4: found 5 fields, expected 8 (as in the header)",
        f"{path}:5: column 'value': found 'x', expected a number",
    ]


def test_short_rows_are_refused_even_when_polars_would_fill_them(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = long_csv(tmp_path, "short.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE}")
    assert problems(tracker_db, path) == [
        f"{path}:2: found 7 fields, expected 8 (as in the header)"
    ]


def test_lines_count_blank_lines_and_quoted_newlines(tracker_db: Path, tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n\n"
        f'new_deals,BRI,WLD,2019,1,,{SOURCE},"a\nb"\n'
        f"new_deals,BRI,WLD,2020,1,,{SOURCE}\n"
        f"new_deals,BRI,WLD,2021,zz,,{SOURCE},\n"
    )
    path = write(tmp_path, "lines.csv", text)
    assert problems(tracker_db, path) == [
        f"{path}:5: found 7 fields, expected 8 (as in the header)",
        f"{path}:6: column 'value': found 'zz', expected a number",
    ]


def test_malformed_quotes_are_refused_with_their_line(tracker_db: Path, tmp_path: Path) -> None:
    stray = long_csv(tmp_path, "stray.csv", f'new_deals,BRI,WLD,2019,1,,{SOURCE},"a"b')
    open_quote = long_csv(
        tmp_path, "open.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE},",
        f'new_deals,BRI,WLD,2020,1,,{SOURCE},"never closed', "more,text",
    )  # fmt: skip
    assert problems(tracker_db, stray, open_quote) == [
        f"{stray}:2: malformed CSV (',' expected after '\"'); a quoted field must end with a "
        'quote followed by the delimiter or the line end, with quotes inside it doubled ("")',
        f"{open_quote}:3: a quoted field that starts here is never closed; check for a "
        "missing '\"'",
    ]


def test_blank_and_duplicate_header_names_are_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path, "h.csv", f"indicator,period,value,,Source,source\nnew_deals,2019,1,,{SOURCE},x\n"
    )
    assert problems(tracker_db, path) == [
        f"{path}:1: column 4 of the header has no name; every column needs one (delete the "
        "column if it is empty)",
        f"{path}:1: column 'source' appears twice in the header (columns 5 and 6); keep one",
    ]


def test_unknown_columns_are_refused_with_a_close_match(tracker_db: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path, "u.csv", f"indicator,period,value,sorce,colour\nnew_deals,2019,1,{SOURCE},red\n"
    )
    assert problems(tracker_db, path, source=SOURCE) == [
        f"{path}:1: unknown columns 'sorce' (did you mean 'source'?), 'colour'; accepted "
        "columns: indicator, initiative, geography, period, value, unit, source, note, qualifier, "
        "contributor, or "
        "instead of period and value one column per period (2019, 2024-H1, ...)"
    ]


def test_missing_required_columns_are_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "indicator,period\nnew_deals,2019\n")
    assert problems(tracker_db, path, source=SOURCE) == [
        f"{path}:1: missing required column 'value' (columns found: indicator, period)"
    ]


def test_no_source_column_and_no_source_option_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "ns.csv", "indicator,period,value\nnew_deals,2019,1\n")
    assert problems(tracker_db, path) == [
        f"{path}:1: no 'source' column and no --source given; add a source column or run "
        'again with --source SOURCE_ID (or --source "citation")'
    ]


def test_period_columns_next_to_a_value_column_are_refused(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "mix.csv", f"indicator,period,value,2019,source\nnew_deals,2019,1,2,{SOURCE}\n"
    )
    assert problems(tracker_db, path) == [
        f"{path}:1: column(s) '2019' look like periods (wide format), but the header also has "
        "a 'period' or 'value' column; a file is either long (period and value columns) or "
        "wide (one column per period, no period or value column)"
    ]


# --- refusals: cells -----------------------------------------------------------------------


def test_every_bad_cell_is_named_by_line_column_found_and_expected(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = long_csv(
        tmp_path, "bad.csv",
        f"new_deal,BRI,WLD,2024,1,,{SOURCE},",
        "new_deals,BRII,Kasakstan,2024-13,abc,,gfdc-bri-2032,",
        "new_deals,BRI,Atlantis,,NaN,GW,,",
        f"financing,,WLD,2024,1,XYZ bn,{SOURCE},",
        f"financing,GG,WLD,2024,inf,widgets,{SOURCE},",
        f"financing,GG,WLD,2027,1,furlongs,{SOURCE},",
        f"financing,GG,WLD,2025,,USD bn,{SOURCE},",
        f"financing,GG,WLD,2026,\"1,23\",USD bn,{SOURCE},",
    )  # fmt: skip
    f = str(path)
    assert problems(tracker_db, path) == [
        f"{f}:2: column 'indicator': found 'new_deal', unknown indicator; did you mean "
        "'new_deals'?",
        f"{f}:3: column 'initiative': found 'BRII', unknown initiative; did you mean 'BRI'?",
        f"{f}:3: column 'geography': found 'Kasakstan', unknown geography; did you mean 'KAZ' "
        "(Kazakhstan)?",
        f"{f}:3: column 'period': found '2024-13', expected a period like 2024, 2024-H1 "
        "(H1 2024), 2024-Q3 (Q3 2024), 2024-07 (Jul 2024) or 2024-07-15 (15 Jul 2024)",
        f"{f}:3: column 'value': found 'abc', expected a number",
        f"{f}:3: column 'source': found 'gfdc-bri-2032', unknown source; did you mean "
        "'gfdc-bri-2023'?",
        f"{f}:4: column 'geography': found 'Atlantis', unknown geography; expected an ISO "
        "alpha-3 code, a region id or a name from data/reference/geographies.csv",
        f"{f}:4: column 'period': found nothing, expected a period like 2024, 2024-H1 "
        "(H1 2024), 2024-Q3 (Q3 2024), 2024-07 (Jul 2024) or 2024-07-15 (15 Jul 2024)",
        f"{f}:4: column 'value': found 'NaN', expected a finite number",
        f"{f}:4: column 'unit': found 'GW', a unit of power, which cannot be converted to the "
        "indicator's unit 'count' (a unit of deals); expected a unit of deals",
        f"{f}:4: column 'source': found nothing, expected a source id from "
        "data/reference/sources.csv or a citation (or give --source)",
        f"{f}:5: column 'initiative': found nothing, expected one of BRI, CHN_ODF, GG, PGII, "
        "USA (indicator 'financing' has no default initiative)",
        f"{f}:5: column 'unit': found 'XYZ bn', no exchange rate for XYZ in fx_rates; add its "
        "rates to data/reference/fx_rates.csv or give the value in USD",
        f"{f}:6: column 'value': found 'inf', expected a finite number",
        f"{f}:6: column 'unit': found 'widgets', expected a unit such as 'USD bn', 'EUR m', "
        "'GW', 'count', 'km', 'Mt', '%', 'pp' or 'TEU'",
        f"{f}:7: column 'unit': found 'furlongs', a unit of length, which cannot be converted "
        "to the indicator's unit 'USD bn' (a unit of money); expected a unit of money",
        f"{f}:8: column 'value': found nothing, expected a number (leave out rows without a value)",
        f"{f}:9: column 'value': found '1,23', ambiguous: it reads 1.23 with a decimal comma "
        "(--decimal , or --locale de) but is not a number with a decimal point (1,234.5); run "
        "again with --decimal or --locale to say how this file writes numbers",
    ]


def test_a_quoted_multiline_note_moves_later_lines_down(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(
        tmp_path, "ml.csv",
        f'new_deals,BRI,WLD,2019,1,,{SOURCE},"first\nsecond\nthird"',
        f"new_deals,BRI,WLD,2020,oops,,{SOURCE},",
    )  # fmt: skip
    assert problems(tracker_db, path) == [
        f"{path}:5: column 'value': found 'oops', expected a number"
    ]


def test_wide_file_problems_point_at_the_cell_line_and_period_column(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "wbad.csv",
        f"indicator,geography,source,2019,2020\nnew_deals,WLD,{SOURCE},abc,..\n"
        f"new_deals,Atlantis,{SOURCE},1,1e999\n",
    )  # fmt: skip
    assert problems(tracker_db, path) == [
        f"{path}:2: column '2019': found 'abc', expected a number",
        f"{path}:3: column 'geography': found 'Atlantis', unknown geography; expected an ISO "
        "alpha-3 code, a region id or a name from data/reference/geographies.csv",
        f"{path}:3: column '2020': found '1e999', expected a finite number",
    ]


def test_problems_from_all_files_are_listed_up_to_fifty_with_the_total(
    tracker_db: Path, tmp_path: Path
) -> None:
    first = long_csv(
        tmp_path, "a.csv", *[f"new_deals,BRI,WLD,{1900 + i},x,,{SOURCE}," for i in range(40)]
    )
    second = long_csv(
        tmp_path, "b.csv", *[f"new_deals,BRI,WLD,{1900 + i},y,,{SOURCE}," for i in range(30)]
    )
    error = refuse(tracker_db, first, second)
    assert error.total == 70
    assert len(error.problems) == 50
    assert error.problems[0] == f"{first}:2: column 'value': found 'x', expected a number"
    assert error.problems[-1] == f"{second}:11: column 'value': found 'y', expected a number"
    assert "... and 20 more problems not shown." in str(error)
    assert error.advice == ingest.ADVICE


def test_the_cli_exits_2_and_prints_the_problems(tracker_db: Path, tmp_path: Path) -> None:
    path = long_csv(tmp_path, "cli.csv", f"new_deals,BRI,WLD,2019,abc,,{SOURCE},")
    before = snapshot(tracker_db)
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 2
    assert f"{path}:2: column 'value': found 'abc', expected a number" in result.output
    assert "Traceback" not in result.output
    assert snapshot(tracker_db) == before


def test_progress_is_reported_per_file(tracker_db: Path, tmp_path: Path) -> None:
    a = long_csv(tmp_path, "a.csv", f"new_deals,BRI,WLD,2019,1,,{SOURCE},")
    b = long_csv(tmp_path, "b.csv", f"new_deals,BRI,WLD,2020,1,,{SOURCE},")
    calls: list[tuple[str, int, int]] = []
    with store.connect(tracker_db, read_only=True) as conn:
        catalog = store.catalog(conn)
    ingest.prepare([a, b], catalog, ingest.IngestOptions(), lambda *call: calls.append(call))
    assert calls == [("reading CSV files", n, 2) for n in (0, 1, 2)]


# --- anything at all: an IngestError or a load, never another exception --------------------

CELLS = st.sampled_from(
    ["new_deals", "financing", "BRI", "", " ", "WLD", "kaz", "2024", "2024-H1", "2024-13",
     "1", "-2.5", "1,234", "NaN", "USD m", "GW", SOURCE, "free text, cited", '"', '""', "\n",
     "é", "\x00", ",", ";", "..", "x" * 300]
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(
        st.sampled_from([*ingest.LONG_COLUMNS, "2019", "2024-Q1", "Value", "x", ""]), max_size=9
    ),
    rows=st.lists(st.lists(CELLS, max_size=10), max_size=6),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_any_text_is_either_loaded_or_refused(
    tracker_db: Path, tmp_path: Path, header: list[str], rows: list[list[str]], line_end: str
) -> None:
    text = line_end.join(",".join(r) for r in [header, *rows])
    path = write(tmp_path, "fuzz.csv", text.encode("utf-8", "surrogatepass"))
    before = snapshot(tracker_db)
    try:
        load(tracker_db, path)
    except IngestError as error:
        assert error.problems and not any("could not be read (" in p for p in error.problems)
        assert snapshot(tracker_db) == before

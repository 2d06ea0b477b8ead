"""Figures as analysts write them (issue 12): numbers under a locale, amounts with a currency
and a scale in the value cell, and qualifiers, through the real `tracker ingest` on a real
database. A number that two locales read differently is refused unless the user says which.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import duckdb
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import invoke
from tracker import ingest, store
from tracker.errors import IngestError

SOURCE = "gfdc-bri-2023"
ADVICE = 'Nothing was loaded: the database is unchanged. Fix the problems above and run `tracker ingest` again; see README "CSV format".'  # noqa: E501


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def counts(db: Path) -> tuple[Any, ...]:
    return rows(db, "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches)")[0]


def refused(db: Path, path: Path, *options: str) -> list[str]:
    """`tracker ingest` refuses: exit 2, no traceback, nothing written; its problem lines."""
    before = counts(db)
    result = invoke("ingest", path, *options, db=db)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert counts(db) == before
    return [line for line in result.output.splitlines() if line.startswith(str(path))]


def test_amounts_and_qualifiers_as_articles_write_them_load_with_value_unit_and_qualifier(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "newcomer.csv",
        "indicator,initiative,geography,period,value,unit,source\n"
        f"new_deal_value,BRI,WLD,2030,$121.8bn,,{SOURCE}\n"
        f"new_deal_value,BRI,WLD,2031,USD 121.8 billion,,{SOURCE}\n"
        f"financing,GG,WLD,2030,€300 bn,,{SOURCE}\n"
        f"financing,GG,WLD,2031,EUR 1.2 trillion,,{SOURCE}\n"
        f"power_capacity,BRI,WLD,2030,156 GW,,{SOURCE}\n"
        f"power_capacity,BRI,WLD,2031,22 gigawatts,,{SOURCE}\n"
        f"new_deals,BRI,WLD,2030,340 deals,,{SOURCE}\n"
        f"green_energy_capacity,BRI,WLD,2030,~22,GW,{SOURCE}\n"
        f"financing,PGII,USA,2030,>60,USD bn,{SOURCE}\n"
        f'new_deal_value,BRI,WLD,2032,"1,053",USD bn,{SOURCE}\n'
        f"financing,PGII,USA,2031,more than USD 60 bn,,{SOURCE}\n"
        f"financing,PGII,USA,2032,at least 30,USD bn,{SOURCE}\n"
        f"financing,PGII,USA,2033,≤ 5,USD bn,{SOURCE}\n"
        f"financing,PGII,USA,2034,c. 40,USD bn,{SOURCE}\n"
        f"financing,PGII,USA,2035,under 7,USD bn,{SOURCE}\n",
    )  # fmt: skip
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    loaded = rows(
        tracker_db,
        "SELECT indicator, period, value, qualifier, currency, unit_as_given "
        "FROM observations_current WHERE period >= '2030' ORDER BY indicator, period, currency",
    )
    assert loaded == [
        ("financing", "2030", D("300.0"), None, "EUR", "EUR bn"),
        ("financing", "2030", D("60.0"), "more than", "USD", "USD bn"),
        ("financing", "2031", D("1200.0"), None, "EUR", "EUR trillion"),
        ("financing", "2031", D("60.0"), "more than", "USD", "USD bn"),
        ("financing", "2032", D("30.0"), "at least", "USD", "USD bn"),
        ("financing", "2033", D("5.0"), "up to", "USD", "USD bn"),
        ("financing", "2034", D("40.0"), "approximate", "USD", "USD bn"),
        ("financing", "2035", D("7.0"), "less than", "USD", "USD bn"),
        ("green_energy_capacity", "2030", D("22.0"), "approximate", None, "GW"),
        ("new_deal_value", "2030", D("121.8"), None, "USD", "USD bn"),
        ("new_deal_value", "2031", D("121.8"), None, "USD", "USD billion"),
        ("new_deal_value", "2032", D("1053.0"), None, "USD", "USD bn"),
        ("new_deals", "2030", D("340.0"), None, None, "deals"),
        ("power_capacity", "2030", D("156.0"), None, None, "GW"),
        ("power_capacity", "2031", D("22.0"), None, None, "GW"),
    ]
    # every view shows the qualifier beside the value
    assert rows(
        tracker_db,
        "SELECT qualifier FROM latest_values WHERE indicator = 'green_energy_capacity' "
        f"AND source = '{SOURCE}'",
    ) == [("approximate",)]
    assert rows(
        tracker_db,
        "SELECT value, qualifier FROM comparison_usd WHERE initiative = 'PGII' AND period = '2030'",
    ) == [(60.0, "more than")]


def test_a_semicolon_file_from_a_european_excel_is_refused_until_the_decimal_mark_is_given(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "excel.csv",
        "indicator;initiative;geography;period;value;unit;source\n"
        f"financing;GG;WLD;2030;250,5;EUR bn;{SOURCE}\n"
        f"financing;GG;WLD;2031;1,053;EUR bn;{SOURCE}\n"
        f"financing;GG;WLD;2032;1.053;EUR bn;{SOURCE}\n"
        f"financing;GG;WLD;2033;12;EUR bn;{SOURCE}\n",
    )  # fmt: skip
    again = "; run again with --decimal or --locale to say how this file writes numbers"
    assert refused(tracker_db, path) == [
        f"{path}:2: column 'value': found '250,5', ambiguous: it reads 250.5 with a decimal "
        "comma (--decimal , or --locale de) but is not a number with a decimal point "
        f"(1,234.5){again}",
        f"{path}:3: column 'value': found '1,053', ambiguous: it reads 1053 with a decimal "
        f"point (--decimal . or --locale en) or 1.053 with a decimal comma (--decimal , or "
        f"--locale de){again}",
        f"{path}:4: column 'value': found '1.053', ambiguous: it reads 1.053 with a decimal "
        f"point (--decimal . or --locale en) or 1053 with a decimal comma (--decimal , or "
        f"--locale de){again}",
    ]
    # --delimiter ';' says nothing about the decimal mark
    assert len(refused(tracker_db, path, "--delimiter", ";")) == 3
    for options in (["--decimal", ","], ["--locale", "de"]):
        result = invoke("ingest", path, *options, "--dry-run", db=tracker_db)
        assert result.exit_code == 0, result.output
    result = invoke("ingest", path, "--decimal", ",", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert rows(
        tracker_db,
        "SELECT period, value FROM observations_current WHERE indicator = 'financing' "
        "AND period >= '2030' ORDER BY period",
    ) == [("2030", D("250.5")), ("2031", D("1.053")), ("2032", D("1053")), ("2033", D("12"))]


def test_numbers_only_another_locale_reads_are_refused_naming_the_reading_and_the_option(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "other.csv",
        "indicator,initiative,geography,period,value,unit,source\n"
        f'financing,GG,WLD,2030,"1.234,5",EUR bn,{SOURCE}\n'
        f"financing,GG,WLD,2031,1\u00a0053,EUR bn,{SOURCE}\n"
        f'financing,GG,WLD,2032,"12,34,567",EUR m,{SOURCE}\n',
    )  # fmt: skip
    found = refused(tracker_db, path)
    assert [line.split(", ambiguous: it reads ")[1].split(" but ")[0] for line in found] == [
        "1234.5 with a decimal comma (--decimal , or --locale de)",
        "1053 with a decimal comma (--decimal , or --locale fr)",
        "1234567 with --locale en_IN",
    ]
    result = invoke("ingest", path, "--locale", "fr", db=tracker_db)
    assert result.exit_code == 2  # fr does not read 1.234,5 or 12,34,567
    one = write(tmp_path, "fr.csv", "indicator,initiative,geography,period,value,unit,source\n"
                f"financing,GG,WLD,2031,1\u00a0053,EUR bn,{SOURCE}\n")  # fmt: skip
    result = invoke("ingest", one, "--locale", "fr", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert rows(tracker_db, "SELECT value FROM observations_current WHERE period = '2031' "
                "AND indicator = 'financing' AND initiative = 'GG'") == [(1053.0,)]  # fmt: skip


def test_a_locale_given_reads_its_own_numbers_and_refuses_others(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "de.csv",
        "indicator;initiative;geography;period;value;unit;source\n"
        f"financing;GG;WLD;2030;121.8;EUR bn;{SOURCE}\n",
    )  # fmt: skip
    assert refused(tracker_db, path, "--locale", "de") == [
        f"{path}:2: column 'value': found '121.8', expected a number as written under "
        "--locale de (1.234,5)"
    ]


def test_a_unit_or_qualifier_in_the_cell_that_its_column_contradicts_is_refused_naming_both(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "clash.csv",
        "indicator,initiative,geography,period,value,unit,source,qualifier\n"
        f"financing,GG,WLD,2030,$5bn,EUR bn,{SOURCE},\n"
        f"financing,GG,WLD,2031,~5,EUR bn,{SOURCE},more than\n"
        f"financing,GG,WLD,2032,5,EUR bn,{SOURCE},roughly\n"
        f"financing,GG,WLD,2033,¥5bn,,{SOURCE},\n"
        f"financing,GG,WLD,2034,INR 5 million,,{SOURCE},\n"
        f"financing,GG,WLD,2035,5 GW,,{SOURCE},\n",
    )  # fmt: skip
    assert refused(tracker_db, path) == [
        f"{path}:2: column 'value': found '$5bn', the value gives the unit 'USD bn' but column "
        "'unit' says 'EUR bn'; give the unit once, or make them agree",
        f"{path}:3: column 'value': found '~5', the value says 'approximate' but column "
        "'qualifier' says 'more than'; give the qualifier once, or make them agree",
        f"{path}:4: column 'qualifier': found 'roughly', expected ~, ≈, about, around, "
        "approximately, c., >, over, more than, ≥, at least, <, under, less than, ≤, up to (or "
        "approximate), or nothing",
        f"{path}:5: column 'value': found '¥5bn', '¥' is CNY (yuan) or JPY (yen); write the "
        "code (CNY 5 bn, JPY 5 bn)",
        f"{path}:6: column 'value': found 'INR 5 million', no exchange rate for INR in "
        "fx_rates; add its rates to data/reference/fx_rates.csv or give the value in USD",
        f"{path}:7: column 'value': found '5 GW', a unit of power, which cannot be converted to "
        "the indicator's unit 'USD bn' (a unit of money); expected a unit of money",
    ]


def test_a_matching_unit_or_qualifier_column_is_accepted(tracker_db: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path, "agree.csv",
        "indicator,initiative,geography,period,value,unit,source,qualifier\n"
        f"financing,GG,WLD,2030,€5bn,EUR bn,{SOURCE},\n"
        f"financing,GG,WLD,2031,~5,EUR bn,{SOURCE},about\n"
        f"financing,GG,WLD,2032,5,EUR bn,{SOURCE},at least\n",
    )  # fmt: skip
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert rows(tracker_db, "SELECT period, value, qualifier FROM observations_current "
                "WHERE period >= '2030' ORDER BY period") == [  # fmt: skip
        ("2030", 5.0, None), ("2031", 5.0, "approximate"), ("2032", 5.0, "at least"),
    ]  # fmt: skip


def test_the_same_value_with_a_new_qualifier_is_a_revision(
    tracker_db: Path, tmp_path: Path
) -> None:
    header = "indicator,initiative,geography,period,value,unit,source\n"
    first = write(tmp_path, "a.csv", header + f"power_capacity,BRI,WLD,2030,22,GW,{SOURCE}\n")
    second = write(tmp_path, "b.csv", header + f"power_capacity,BRI,WLD,2030,~22,GW,{SOURCE}\n")
    assert invoke("ingest", first, db=tracker_db).exit_code == 0
    result = invoke("ingest", second, db=tracker_db)
    assert "0 new, 1 revised, 0 unchanged" in result.output
    assert "nothing new" in invoke("ingest", second, db=tracker_db).output
    assert rows(
        tracker_db,
        "SELECT value, qualifier, superseded_at IS NULL FROM observations "
        "WHERE indicator = 'power_capacity' AND period = '2030' ORDER BY recorded_at",
    ) == [(22.0, None, False), (22.0, "approximate", True)]


def test_bad_number_options_are_refused(tracker_db: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "indicator,period,value,source\nnew_deals,2030,1,x y\n")
    for options, message in (
        (["--locale", "xx_YY"], "--locale: found 'xx_YY', expected a locale such as en, de, "
                                "fr, de_CH or en_IN"),
        (["--decimal", ";"], "--decimal: found ';', expected '.' or ','"),
        (["--locale", "de", "--decimal", ","], "--locale de and --decimal , both given; give "
                                               "one (--decimal says only the decimal mark)"),
    ):  # fmt: skip
        result = invoke("ingest", path, *options, db=tracker_db)
        assert result.exit_code == 2
        assert message in result.output


# --- the number parser, by its properties --------------------------------------------------

LOCALES = ["en", "de", "fr", "en_IN", "hi", "de_CH"]
CANDIDATES = ["en", "de", "fr", "de_CH", "en_IN"]


def _dry_run(db: Path, path: Path, **options: Any) -> list[float]:
    with store.connect(db) as conn, store.transaction(conn):
        prepared, _ = ingest.load(conn, [path], ingest.IngestOptions(**options), dry_run=True)
    return prepared.rows["value"].to_list()


numbers = st.decimals(min_value=-(10**12), max_value=10**12, places=3, allow_nan=False)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=numbers, locale=st.sampled_from(LOCALES))
def test_numbers_formatted_by_babel_read_back_under_the_same_locale(
    empty_db: Path, tmp_path: Path, value: Any, locale: str
) -> None:
    text = format_decimal(value, locale=locale)  # the locale's own grouping (lakh in en_IN)
    path = write(
        tmp_path, "n.csv", f"indicator;period;value;source\nnew_deals;2030;{text};{SOURCE}\n"
    )
    assert _dry_run(empty_db, path, locale=locale) == [value]


def _readings(text: str) -> dict[str, D]:
    """How each candidate locale reads `text` (Babel, strict), independently of tracker."""
    found = {}
    for locale in CANDIDATES:
        try:
            found[locale] = parse_decimal(text, locale=locale, strict=True)
        except NumberFormatError:
            pass
    return found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=numbers, locale=st.sampled_from(LOCALES))
def test_a_number_two_locales_read_differently_is_refused_without_a_locale(
    empty_db: Path, tmp_path: Path, value: Any, locale: str
) -> None:
    text = format_decimal(value, locale=locale)
    path = write(
        tmp_path, "n.csv", f"indicator;period;value;source\nnew_deals;2030;{text};{SOURCE}\n"
    )
    readings = _readings(text)
    if len(set(readings.values())) > 1 or "en" not in readings:
        try:
            _dry_run(empty_db, path)
        except IngestError as error:
            assert "ambiguous: it reads" in error.problems[0]
        else:
            raise AssertionError(f"{text!r} reads {readings} but was loaded")
    else:
        assert _dry_run(empty_db, path) == [readings["en"]]

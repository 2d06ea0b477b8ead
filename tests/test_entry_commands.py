"""tracker add, template, withdraw and history through the real commands and a real
DuckDB file."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from typer.testing import Result

from tests.conftest import db_execute, db_rows, invoke

CITATION = "Desk notes 2025 (example citation)"
POINT = ["--initiative", "BRI", "--geography", "KAZ", "--period", "2024"]


def source_id(db: Path) -> str:
    return str(db_rows(db, "SELECT id FROM sources WHERE title = ?", [CITATION])[0][0])


def current(db: Path, view: str = "observations_current") -> list[tuple[object, ...]]:
    return db_rows(
        db,
        f"SELECT value, qualifier FROM {view} WHERE indicator = 'new_deal_value' "
        "AND geography = 'KAZ'",
    )


def withdraw_point(db: Path, point: tuple[str, str, str, str, str], reason: str) -> Result:
    """`tracker withdraw` of a stored point (indicator, initiative, geography, period, source)."""
    indicator, initiative, geography, period, source = point
    options = zip(("--initiative", "--geography", "--period", "--source"),
                  (initiative, geography, period, source), strict=True)  # fmt: skip
    flat = [part for pair in options for part in pair]
    return invoke("withdraw", indicator, *flat, "--reason", reason, db=db)


def test_add_reads_the_value_as_a_csv_cell_and_records_one_batch(tracker_db: Path) -> None:
    batches = db_rows(tracker_db, "SELECT count(*) FROM batches")[0][0]
    result = invoke(
        "add",
        "new_deal_value",
        "~$121.8bn",
        *POINT,
        "--source",
        CITATION,
        "--note",
        "typed in",
        db=tracker_db,
    )
    assert result.exit_code == 0, result.output
    assert "~USD 121.8 bn (new) as batch" in result.output
    assert current(tracker_db) == [(Decimal("121.8"), "approximate")]
    assert current(tracker_db, "latest_values") == [(Decimal("121.8"), "approximate")]
    assert db_rows(tracker_db, "SELECT count(*) FROM batches")[0][0] == batches + 1
    assert db_rows(
        tracker_db, "SELECT files, rows_read, rows_new FROM batches ORDER BY id DESC LIMIT 1"
    ) == [(["tracker add"], 1, 1)]
    again = invoke(
        "add",
        "new_deal_value",
        "~$121.8bn",
        *POINT,
        "--source",
        CITATION,
        "--note",
        "typed in",
        db=tracker_db,
    )
    assert again.exit_code == 0 and "nothing new" in again.output
    assert db_rows(tracker_db, "SELECT count(*) FROM batches")[0][0] == batches + 1


def test_add_takes_a_locale_and_refuses_an_ambiguous_number(tracker_db: Path) -> None:
    refused = invoke("add", "new_deal_value", "1,053", *POINT, "--source", CITATION, db=tracker_db)
    assert refused.exit_code == 2
    assert refused.output.startswith("VALUE: found '1,053', ambiguous")
    assert current(tracker_db) == []
    result = invoke(
        "add",
        "new_deal_value",
        "1,053",
        *POINT,
        "--source",
        CITATION,
        "--locale",
        "de",
        db=tracker_db,
    )
    assert result.exit_code == 0, result.output
    assert current(tracker_db) == [(Decimal("1.053"), None)]


def test_add_names_the_option_of_each_problem_and_writes_nothing(tracker_db: Path) -> None:
    before = db_rows(tracker_db, "SELECT count(*) FROM observations")
    result = invoke(
        "add",
        "new_deal_value",
        "abc",
        "--initiative",
        "BRI",
        "--geography",
        "Atlantis",
        "--period",
        "2024-13",
        "--source",
        CITATION,
        db=tracker_db,
    )
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(
        line.startswith("--geography: found 'Atlantis', unknown geography") for line in lines
    )
    assert any(line.startswith("--period: found '2024-13'") for line in lines)
    assert any(line.startswith("VALUE: found 'abc'") for line in lines)
    assert "Traceback" not in result.output and "tracker add:" not in result.output
    assert db_rows(tracker_db, "SELECT count(*) FROM observations") == before
    assert db_rows(tracker_db, "SELECT count(*) FROM sources WHERE title = ?", [CITATION]) == [(0,)]


def test_a_filled_template_loads_with_ingest_unchanged(tracker_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "fill.csv"
    result = invoke(
        "template",
        "power_capacity",
        "--geographies",
        "KAZ,Uzbekistan",
        "--periods",
        "2024",
        "--periods",
        "H1 2025",
        "--out",
        out,
        db=tracker_db,
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["geography"], r["period"], r["initiative"], r["unit"]) for r in rows] == [
        ("KAZ", "2024", "BRI", "GW"),
        ("KAZ", "2025-H1", "BRI", "GW"),
        ("UZB", "2024", "BRI", "GW"),
        ("UZB", "2025-H1", "BRI", "GW"),
    ]
    assert list(rows[0]) == [
        "indicator",
        "initiative",
        "geography",
        "period",
        "value",
        "unit",
        "source",
        "note",
        "qualifier",
        "contributor",
    ]
    for number, row in enumerate(rows):
        row["value"], row["source"] = str(number + 1), CITATION
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    loaded = invoke("ingest", out, db=tracker_db)
    assert loaded.exit_code == 0, loaded.output
    assert "4 new" in loaded.output

    wide = tmp_path / "wide.csv"
    result = invoke(
        "template",
        "power_capacity",
        "--wide",
        "--geographies",
        "KAZ",
        "--periods",
        "2026,2027",
        "--out",
        wide,
        db=tracker_db,
    )
    assert result.exit_code == 0, result.output
    text = wide.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "indicator,initiative,geography,unit,source,note,2026,2027"
    wide.write_text(text.replace("GW,,,,", f'GW,"{CITATION}",,5,~6'), encoding="utf-8")
    loaded = invoke("ingest", wide, db=tracker_db)
    assert loaded.exit_code == 0, loaded.output
    assert "2 new" in loaded.output


def test_template_refuses_unknown_names_and_an_existing_file(
    tracker_db: Path, tmp_path: Path
) -> None:
    unknown = invoke("template", "power_capacty", db=tracker_db)
    assert unknown.exit_code == 2 and "Did you mean 'power_capacity'?" in unknown.output
    place = invoke("template", "power_capacity", "--geographies", "KAZ,Atlantis", db=tracker_db)
    assert place.exit_code == 2
    assert place.output.startswith("--geographies: found 'Atlantis', unknown geography")
    out = tmp_path / "kept.csv"
    out.write_text("mine\n", encoding="utf-8")
    kept = invoke("template", "power_capacity", "--out", out, db=tracker_db)
    assert kept.exit_code == 2 and "exists" in kept.output
    assert out.read_text(encoding="utf-8") == "mine\n"
    forced = invoke("template", "power_capacity", "--out", out, "--force", db=tracker_db)
    assert forced.exit_code == 0 and out.read_text(encoding="utf-8").startswith("indicator,")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_withdraw_keeps_history_skips_the_point_and_reentry_restores_it(
    tracker_db: Path,
) -> None:
    assert (
        invoke(
            "add", "new_deal_value", "100", *POINT, "--source", CITATION, db=tracker_db
        ).exit_code
        == 0
    )
    assert (
        invoke(
            "add",
            "new_deal_value",
            "90",
            *POINT,
            "--period",
            "2023",
            "--source",
            CITATION,
            db=tracker_db,
        ).exit_code
        == 0
    )
    before = db_rows(tracker_db, "SELECT max(recorded_at) FROM observations")[0][0]
    result = invoke(
        "withdraw",
        "new_deal_value",
        *POINT,
        "--source",
        CITATION,
        "--reason",
        "the figure was Uzbekistan's",
        db=tracker_db,
    )
    assert result.exit_code == 0, result.output
    assert current(tracker_db) == [(90.0, None)]  # 2023 stays
    assert current(tracker_db, "latest_values") == [(90.0, None)]  # 2023 is the latest now
    assert db_rows(
        tracker_db,
        "SELECT count(*) FROM comparison_usd WHERE geography = 'KAZ' AND period = '2024'"
        " AND indicator = 'new_deal_value'",
    ) == [(0,)]
    as_before = db_rows(
        tracker_db,
        "SELECT value FROM observations_as_of(?) WHERE geography = 'KAZ' "
        "AND period = '2024' AND indicator = 'new_deal_value'",
        [before],
    )
    assert as_before == [(100.0,)]
    assert db_rows(
        tracker_db, "SELECT files, rows_withdrawn FROM batches ORDER BY id DESC LIMIT 1"
    ) == [(["tracker withdraw"], 1)]
    assert db_rows(
        tracker_db,
        "SELECT count(*), count(*) FILTER (WHERE withdrawn) FROM observations "
        "WHERE geography = 'KAZ' AND period = '2024' AND indicator = 'new_deal_value'",
    ) == [(2, 1)]

    again = invoke(
        "withdraw", "new_deal_value", *POINT, "--source", CITATION, "--reason", "x", db=tracker_db
    )
    assert again.exit_code == 2 and "already withdrawn" in again.output
    assert "geography 'KAZ', period '2024'" in again.output
    missing = invoke(
        "withdraw",
        "new_deal_value",
        *POINT,
        "--period",
        "2019",
        "--source",
        CITATION,
        "--reason",
        "x",
        db=tracker_db,
    )
    assert missing.exit_code == 2 and "No point" in missing.output and "'2019'" in missing.output

    back = invoke("add", "new_deal_value", "100", *POINT, "--source", CITATION, db=tracker_db)
    assert back.exit_code == 0 and "(a revision)" in back.output
    assert sorted(current(tracker_db)) == [(90.0, None), (100.0, None)]
    assert current(tracker_db, "latest_values") == [(100.0, None)]


def test_withdrawn_target_figure_leaves_target_progress(tracker_db: Path) -> None:
    row = db_rows(
        tracker_db,
        "SELECT indicator, initiative, geography, latest_period, latest_source "
        "FROM target_progress WHERE latest_period IS NOT NULL LIMIT 1",
    )[0]
    indicator, initiative, geography, period, source = (str(v) for v in row)
    result = withdraw_point(tracker_db, (indicator, initiative, geography, period, source), "test")
    assert result.exit_code == 0, result.output
    after = db_rows(
        tracker_db,
        "SELECT latest_period, latest_source FROM target_progress WHERE indicator = ? "
        "AND initiative = ? AND geography = ?",
        [indicator, initiative, geography],
    )
    assert all(found != (period, source) for found in after)


def test_history_lists_every_vintage_newest_first_in_each_format(tracker_db: Path) -> None:
    for value in ("~100", ">110"):
        assert (
            invoke(
                "add", "new_deal_value", value, *POINT, "--source", CITATION, db=tracker_db
            ).exit_code
            == 0
        )
    assert (
        invoke(
            "withdraw",
            "new_deal_value",
            *POINT,
            "--source",
            CITATION,
            "--reason",
            "wrong [bold]country[/]",
            db=tracker_db,
        ).exit_code
        == 0
    )
    found = invoke(
        "history", "new_deal_value", "--geography", "Kazakhstan", "--format", "csv", db=tracker_db
    )
    assert found.exit_code == 0, found.output
    rows = list(csv.DictReader(io.StringIO(found.output)))
    ours = [r for r in rows if r["source"] == source_id(tracker_db)]
    assert [(r["figure"], r["withdrawn"], r["withdrawn_reason"]) for r in ours] == [
        ("withdrawn", "true", "wrong [bold]country[/]"),
        ("> USD 110 bn", "false", ""),
        ("~USD 100 bn", "false", ""),
    ]
    assert ours[1]["superseded_at"] == ours[0]["recorded_at"]
    as_json = json.loads(
        invoke(
            "history", "new_deal_value", "--source", CITATION, "--format", "json", db=tracker_db
        ).output
    )
    assert [r["qualifier"] for r in as_json] == [None, "more than", "approximate"]
    table = invoke(
        "history", "new_deal_value", "--period", "2024", "--geography", "KAZ", db=tracker_db
    )
    assert table.exit_code == 0
    assert "withdrawn: wrong [bold]country[/]" in table.output
    assert "> USD 110 bn" in table.output


def test_a_database_from_before_008_migrates_with_init(tracker_db: Path) -> None:
    for statement in (
        "ALTER TABLE observations DROP COLUMN withdrawn",
        "ALTER TABLE observations DROP COLUMN withdrawn_reason",
        "ALTER TABLE batches DROP COLUMN rows_withdrawn",
        # as a database from before 008 would be: without the later migrations either
        "DELETE FROM schema_migrations WHERE version >= 8",
    ):
        db_execute(tracker_db, statement)
    assert invoke("init", db=tracker_db).exit_code == 0
    point = db_rows(
        tracker_db,
        "SELECT indicator, initiative, geography, period, source FROM observations_current "
        "ORDER BY ALL LIMIT 1",
    )[0]
    indicator, initiative, geography, period, source = (str(v) for v in point)
    result = withdraw_point(
        tracker_db, (indicator, initiative, geography, period, source), "migrated"
    )
    assert result.exit_code == 0, result.output
    assert db_rows(
        tracker_db,
        "SELECT withdrawn_reason FROM observations WHERE withdrawn AND indicator = ?",
        [indicator],
    ) == [("migrated",)]

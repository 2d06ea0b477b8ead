"""One point, several sources (issue 12, item 8): citations that name a known source, the
ingest summary of points given another source, the headline rule (migration 009,
`headline_values`), notes kept unless cleared with '-', and briefings that say when the
sources of a point differ by more than 5 %."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.conftest import LONG_HEADER, db_execute, db_rows, invoke

POINT = ["new_deal_value", "BRI", "WLD", "2019"]


def _write(folder: Path, name: str, rows: list[list[str]]) -> Path:
    path = folder / name
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LONG_HEADER)
        writer.writerows(rows)
    return path


def _ingest(db: Path, path: Path, *options: str) -> str:
    result = invoke("ingest", path, *options, db=db)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_citation_naming_a_known_source_by_id_title_or_url_is_that_source(
    empty_db: Path, tmp_path: Path
) -> None:
    title, url = db_rows(empty_db, "SELECT title, url FROM sources WHERE id = 'griffith-bri-2024'")[
        0
    ]
    assert title and url
    curly = str(title).replace("'", "\u2019").upper().replace(" ", "  ")
    rows = [
        [*POINT[:3], "2016", "1", "USD bn", "GRIFFITH-bri-2024", ""],
        [*POINT[:3], "2017", "2", "USD bn", f"  {curly} ", ""],
        [*POINT[:3], "2018", "3", "USD bn", str(url).upper(), ""],
    ]
    _ingest(empty_db, _write(tmp_path, "a.csv", rows))
    _ingest(empty_db, _write(tmp_path, "b.csv", [[*POINT, "4", "USD bn", "", ""]]),
            "--source", f"{title}".lower())  # fmt: skip
    assert db_rows(empty_db, "SELECT DISTINCT source FROM observations") == [("griffith-bri-2024",)]
    assert db_rows(empty_db, "SELECT count(*) FROM sources WHERE id LIKE 'src-%'") == [(0,)]


def test_one_citation_spelt_two_ways_in_one_call_is_one_new_source(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [
        [*POINT[:3], "2018", "1", "USD bn", "IMF \u201cArticle IV\u201d 2025", ""],
        [*POINT[:3], "2019", "2", "USD bn", 'imf  "article iv" 2025', ""],
    ]
    _ingest(empty_db, _write(tmp_path, "a.csv", rows))
    assert db_rows(empty_db, "SELECT count(DISTINCT source), count(*) FROM observations") == [
        (1, 2)
    ]


def test_a_citation_two_sources_answer_to_is_refused_naming_both(
    empty_db: Path, tmp_path: Path
) -> None:
    db_execute(
        empty_db,
        "INSERT INTO sources (id, title, kind) VALUES ('twin-a', 'Twin Report', 'primary'), "
        "('twin-b', 'twin  report', 'primary')",
    )
    result = invoke("ingest", _write(tmp_path, "a.csv", [[*POINT, "1", "USD bn",
                    "TWIN REPORT", ""]]), db=empty_db)  # fmt: skip
    assert result.exit_code == 2
    assert "a.csv:2: column 'source'" in result.output
    assert "twin-a, twin-b" in result.output
    assert db_rows(empty_db, "SELECT count(*) FROM observations") == [(0,)]


def test_a_second_source_for_a_point_is_said_with_both_figures_and_the_headline(
    empty_db: Path, tmp_path: Path
) -> None:
    first = _ingest(empty_db, _write(tmp_path, "a.csv", [[*POINT, "100", "USD bn",
                    "seed-000-bri-2-0", "as first published"]]))  # fmt: skip
    assert "more than one source" not in first
    output = _ingest(empty_db, _write(tmp_path, "b.csv", [[*POINT, "90", "USD bn",
                     "IMF Article IV 2019 (example citation)", ""]]))  # fmt: skip
    assert "1 point(s) now have more than one source" in output
    assert (
        "new_deal_value, BRI, WLD, 2019: USD 100 bn from seed-000-bri-2-0 (secondary); "
        "USD 90 bn from src-" in output
    )
    assert '"IMF Article IV 2019 (example citation)" (unspecified, new in this call)' in output
    assert "Headline: USD 100 bn from seed-000-bri-2-0, secondary before unspecified." in output
    # A third source, preferred by the indicator, becomes the headline.
    output = _ingest(empty_db, _write(tmp_path, "c.csv", [[*POINT, "95", "USD bn",
                     "griffith-bri-2024", ""]]))  # fmt: skip
    assert "Headline: USD 95 bn from griffith-bri-2024, the indicator's preferred source." in (
        output
    )
    assert db_rows(
        empty_db, "SELECT source, source_count, sources[2], round(spread, 4) "
        "FROM headline_values WHERE period = '2019'",
    ) == [("griffith-bri-2024", 3, "seed-000-bri-2-0", round(5 / 95, 4))]  # fmt: skip


def test_second_sources_within_one_call_are_listed_first_twenty_then_counted(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = []
    for year in range(1990, 2015):
        rows.append([*POINT[:3], str(year), "10", "USD bn", "seed-000-bri-2-0", ""])
        rows.append([*POINT[:3], str(year), "11", "USD bn", "gfdc-bri-2023", ""])
    output = invoke("ingest", "--dry-run", _write(tmp_path, "a.csv", rows), db=empty_db).output
    assert "25 point(s) now have more than one source" in output
    assert output.count("Headline: ") == 20
    assert "... and 5 more point(s)" in output


def test_headline_rule_kind_then_newest_published_then_source_id(
    empty_db: Path, tmp_path: Path
) -> None:
    db_execute(
        empty_db,
        "INSERT INTO sources (id, title, kind, published) VALUES "
        "('s-old', 'Old', 'secondary', DATE '2020-01-01'), "
        "('s-new', 'New', 'secondary', DATE '2024-01-01'), "
        "('s-x', 'X', 'secondary', NULL), ('s-y', 'Y', 'secondary', NULL), "
        "('s-prim', 'Prim', 'primary', NULL)",
    )
    period = ["trade_central_asia", "BRI", "KAZ"]
    rows = [
        [*period, year, value, "USD bn", source, ""]
        for year, value, source in [
            ("2020", "1", "s-old"), ("2020", "2", "s-new"), ("2021", "3", "s-y"),
            ("2021", "4", "s-x"), ("2022", "5", "s-new"), ("2022", "6", "s-prim"),
        ]
    ]  # fmt: skip
    output = _ingest(empty_db, _write(tmp_path, "a.csv", rows))
    assert "USD 2 bn from s-new, the newest published (2024-01-01)" in output
    assert "USD 4 bn from s-x, by source id" in output
    assert "USD 6 bn from s-prim, primary before secondary" in output


def test_an_empty_note_keeps_the_stored_note_and_a_dash_clears_it(
    empty_db: Path, tmp_path: Path
) -> None:
    _ingest(empty_db, _write(tmp_path, "a.csv", [[*POINT, "100", "USD bn",
            "griffith-bri-2024", "curated note"]]))  # fmt: skip
    again = _ingest(empty_db, _write(tmp_path, "b.csv", [[*POINT, "100", "USD bn",
                    "griffith-bri-2024", ""]]))  # fmt: skip
    assert "nothing new" in again
    _ingest(empty_db, _write(tmp_path, "c.csv", [[*POINT, "101", "USD bn",
            "griffith-bri-2024", ""]]))  # fmt: skip
    assert db_rows(empty_db, "SELECT value, note FROM observations_current") == [
        (101.0, "curated note")
    ]
    cleared = _ingest(empty_db, _write(tmp_path, "d.csv", [[*POINT, "101", "USD bn",
                      "griffith-bri-2024", "-"]]))  # fmt: skip
    assert "1 revised" in cleared
    assert db_rows(empty_db, "SELECT value, note FROM observations_current") == [(101.0, None)]
    assert db_rows(empty_db, "SELECT count(*) FROM observations") == [(3,)]


def test_a_briefing_shows_the_headline_and_notes_sources_more_than_5_percent_apart(
    tracker_db: Path, tmp_path: Path
) -> None:
    _ingest(tracker_db, _write(tmp_path, "a.csv", [["new_deal_value", "BRI", "WLD", "2024",
            "110", "USD bn", "IMF Article IV 2024 (example citation)", ""]]))  # fmt: skip
    result = invoke("brief", "programmes-compared", "--format", "html", "--out", tmp_path / "out",
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    html = next((tmp_path / "out").rglob("*.html")).read_text(encoding="utf-8")
    assert "Sources differ by more than 5 %" in html
    # footnote numbers: the key messages, first in the briefing, cite first
    assert re.search(r"USD 121\.8 bn \[\d+\] \(headline, primary\) against USD 110 bn \[", html)
    assert "(unspecified, 9.7 % apart)" in html
    with open(next((tmp_path / "out").rglob("*.csv")), encoding="utf-8") as handle:
        key = [r for r in csv.DictReader(handle) if r["section"] == "Key figures"
               and r["indicator"] == "new_deal_value"]  # fmt: skip
    assert [r["value"] for r in key] == ["121.8"]
    assert "against USD 110 bn" in key[0]["sources_differ"]


def test_a_briefing_does_not_note_sources_that_agree_within_5_percent(
    tracker_db: Path, tmp_path: Path
) -> None:
    _ingest(tracker_db, _write(tmp_path, "a.csv", [["new_deal_value", "BRI", "WLD", "2024",
            "118", "USD bn", "IMF Article IV 2024 (example citation)", ""]]))  # fmt: skip
    result = invoke("brief", "programmes-compared", "--format", "html", "--out", tmp_path / "out",
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    html = next((tmp_path / "out").rglob("*.html")).read_text(encoding="utf-8")
    assert "Sources differ" not in html

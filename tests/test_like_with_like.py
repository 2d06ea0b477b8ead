"""Like with like, every figure as stated, sources as citations (issue 14, items 3, 4, 7): the
shipped briefing rendered on the shipped data never sets a figure against a target that
counts something else, prints every figure with its qualifier, and no local path reaches it."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import (
    copy_database,
    db_execute,
    db_rows,
    ingest_analyst_revision,
    invoke,
    runs_rows,
)
from tracker.deliver.messages import key_figure_lines
from tracker.text import QUALIFIER_SIGNS, amount

REPORT = "programmes-compared"


def _only_dir(root: Path) -> Path:
    found = sorted(p for p in (root / REPORT).iterdir() if p.is_dir())
    assert len(found) == 1, found
    return found[0]


def _pdf_text(path: Path) -> str:
    return " ".join(
        " ".join(page.extract_text().replace("\xa0", " ").split()) for page in PdfReader(path).pages
    )


def _html_text(path: Path) -> str:
    body = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", path.read_text("utf-8"), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _render(db: Path, out: Path) -> Path:
    result = invoke("brief", REPORT, "--out", out, db=db)
    assert result.exit_code == 0, result.output
    return _only_dir(out)


@pytest.fixture(scope="module")
def shipped(
    shipped_db_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The shipped briefing rendered once from the shipped data: (database, output folder)."""
    folder = tmp_path_factory.mktemp("likewith")
    db = copy_database(shipped_db_template, folder / "tracker.duckdb")
    return db, _render(db, folder / "out")


def _target_row(text: str, label: str) -> str:
    """The row of the targets table for `label` (the label with its footnotes) up to its
    time left."""
    start = text.index(label + "[")
    return text[start : text.index(" days left", start)]


def test_no_share_is_built_on_figures_that_count_different_things(
    shipped: tuple[Path, Path],
) -> None:
    _, out = shipped
    text = _pdf_text(out / f"{REPORT}.pdf")
    # the US's more than USD 60 bn is a share of the US's own USD 200 bn ...
    us_row = _target_row(text, "PGII, US share: mobilise USD 200 bn by 2027")
    assert "> USD 60 bn" in us_row and "more than 30.0 %" in us_row
    # ... and never of the G7's USD 600 bn, which has no G7-wide figure in the shipped data
    g7_row = _target_row(text, "PGII: mobilise USD 600 bn by 2027")
    assert "no comparable figure yet" in g7_row
    assert "10.0 %" not in text
    html = _html_text(out / f"{REPORT}.html")
    assert "no comparable figure yet" in html and "10.0 %" not in html
    rows = list(csv.DictReader(io.StringIO((out / f"{REPORT}.csv").read_text("utf-8"))))
    targets = {r["item"]: r for r in rows if r["section"] == "Targets"}
    g7 = targets["PGII: mobilise USD 600 bn by 2027"]
    assert (g7["share_achieved"], g7["trend_status"]) == ("", "no comparable figure yet")
    us = targets["PGII, US share: mobilise USD 200 bn by 2027"]
    assert (us["contributor"], float(us["share_achieved"]), us["qualifier"]) == (
        "USA", pytest.approx(0.3), "more than"
    )  # fmt: skip


def test_every_qualified_figure_in_the_data_carries_its_qualifier_in_the_pdf(
    shipped: tuple[Path, Path],
) -> None:
    db, out = shipped
    text = _pdf_text(out / f"{REPORT}.pdf")
    qualified = db_rows(
        db,
        "SELECT o.value, i.unit, o.currency, i.count_noun, o.qualifier "
        "FROM observations_current AS o JOIN indicators AS i ON i.id = o.indicator "
        "WHERE o.qualifier IS NOT NULL",
    )
    # the shipped data states what its sources state: 'more than $60 bn', 'over EUR 306 bn',
    # '~85.2', '>22 GW', '~51', '~11.9 GW', 'over $679 bn', 'exceeded $19 trillion'
    assert len(qualified) == 8
    for value, unit, currency, noun, qualifier in qualified:
        bare = amount(value, unit, currency, noun)  # type: ignore[arg-type]
        sign = QUALIFIER_SIGNS[str(qualifier)].strip()
        found = [m.start() for m in re.finditer(re.escape(bare), text)]
        for start in found:
            before = text[max(0, start - 12) : start]
            # the figure's sign, or the source's own words quoted in a note
            assert before.rstrip().endswith(sign) or re.search(
                r"(over|more than|about|exceeded)\s*'?$", before
            ), f"{bare} without its qualifier: ...{text[start - 40 : start + 20]}..."
    for shown in ("> USD 60 bn", "> EUR 306 bn", "~USD 85.2 bn", "> 22 GW", "> USD 679 bn"):
        assert shown in text


def test_key_figures_tag_secondary_sources_and_the_email_keeps_qualifiers(
    shipped: tuple[Path, Path],
) -> None:
    db, out = shipped
    html = (out / f"{REPORT}.html").read_text("utf-8")
    figures = html[
        html.index('class="figures"') : html.index("</table>", html.index('class="figures"'))
    ]
    # the 2025 figures come from a secondary summary of Griffith's report
    row = figures[figures.index("~USD 85.2 bn") :]
    assert "secondary source" in row[: row.index("</tr>")]
    recorded = runs_rows(db, "SELECT key_figures FROM report_runs ORDER BY id DESC LIMIT 1")
    lines = key_figure_lines({"key_figures": recorded[0][0]}, None)
    values = {line.value for line in lines}
    assert {"~USD 85.2 bn", "> 22 GW"} <= values


def test_the_briefing_csv_writes_each_rows_unit_in_its_own_currency(
    shipped: tuple[Path, Path],
) -> None:
    _, out = shipped
    rows = list(csv.DictReader(io.StringIO((out / f"{REPORT}.csv").read_text("utf-8"))))
    gateway = [r for r in rows if r["initiative"] == "GG" and r["value"]]
    assert gateway and {(r["currency"], r["unit"]) for r in gateway} == {("EUR", "EUR bn")}
    usd = [r for r in rows if r["currency"] == "USD"]
    assert usd and {r["unit"] for r in usd} == {"USD bn"}


def test_the_comparison_labels_the_us_figure_as_us_only(shipped: tuple[Path, Path]) -> None:
    _, out = shipped
    html = (out / f"{REPORT}.html").read_text("utf-8")
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    labels = {unescape(t) for t in re.findall(r"<text[^>]*>([^<]+)</text>", svgs[0])}
    assert "> 60, US only" in labels
    assert "> USD 60 bn (US only)" in _html_text(out / f"{REPORT}.html")


def test_a_figure_names_its_contributor_and_only_the_same_contributor_counts(
    tracker_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "contributors.csv"
    path.write_text(
        "indicator,initiative,geography,period,value,unit,source,contributor\n"
        "financing,PGII,WLD,2025,100,USD bn,A G7 communique (test),US\n"
        "financing,PGII,WLD,2025-06,300,USD bn,A G7 summary (test),\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    shares = dict(
        db_rows(
            tracker_db,
            "SELECT label, share_achieved FROM target_progress WHERE initiative = 'PGII'",
        )  # fmt: skip
    )
    assert shares["PGII, US share: mobilise USD 200 bn by 2027"] == pytest.approx(0.5)
    assert shares["PGII: mobilise USD 600 bn by 2027"] == pytest.approx(0.5)
    stored = db_rows(
        tracker_db,
        "SELECT period, contributor FROM observations_current "
        "WHERE initiative = 'PGII' ORDER BY period",  # fmt: skip
    )
    assert stored == [("2024-06", "USA"), ("2025", "USA"), ("2025-06", None)]


def test_an_unknown_contributor_is_refused_and_nothing_is_loaded(
    tracker_db: Path, tmp_path: Path
) -> None:
    before = db_rows(tracker_db, "SELECT count(*) FROM observations")
    path = tmp_path / "bad.csv"
    path.write_text(
        "indicator,initiative,geography,period,value,unit,source,contributor\n"
        "financing,PGII,WLD,2025,100,USD bn,griffith-bri-2024,\n"
        "financing,PGII,WLD,2026,100,USD bn,griffith-bri-2024,Atlantis\n",
        encoding="utf-8",
    )
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 2
    assert f"{path}:3: column 'contributor': found 'Atlantis'" in result.output
    assert "Traceback" not in result.output
    assert db_rows(tracker_db, "SELECT count(*) FROM observations") == before


def test_no_path_of_the_analysts_machine_reaches_the_briefing(
    tracker_db: Path, tmp_path: Path
) -> None:
    ingest_analyst_revision(tracker_db, tmp_path)
    out = _render(tracker_db, tmp_path / "out")
    pdf = _pdf_text(out / f"{REPORT}.pdf")
    assert "IMF Article IV 2024 (test citation)" in pdf  # the citation, in the sources list
    assert "registered by tracker ingest from 3a_revision.csv" in pdf
    for name in (f"{REPORT}.html", f"{REPORT}.csv", "manifest.json"):
        assert "home/analyst" not in (out / name).read_text("utf-8"), name
    assert "home/analyst" not in pdf
    recorded = runs_rows(tracker_db, "SELECT key_figures FROM report_runs")
    assert all("home/analyst" not in json.dumps(row) for row in recorded)


def test_init_trims_paths_that_older_versions_noted_on_registered_sources(
    tracker_db: Path,
) -> None:
    db_execute(
        tracker_db,
        "INSERT INTO sources (id, title, kind, note) VALUES ('src-old', 'Old citation', "
        "'unspecified', 'registered by tracker ingest from /home/analyst/csv/3a_revision.csv')",
    )
    db_execute(tracker_db, "DELETE FROM schema_migrations WHERE version = 12")
    assert invoke("init", db=tracker_db).exit_code == 0
    assert db_rows(tracker_db, "SELECT note FROM sources WHERE id = 'src-old'") == [
        ("registered by tracker ingest from 3a_revision.csv",)
    ]

"""Briefings end to end through the real CLI: PDF and HTML read back, manifest, CSV, runs,
issue numbers, what changed between issues, and --as-of from the vintages."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.conftest import copy_database, db_execute, db_rows, invoke, runs_rows

REPORT = "programmes-compared"


def _only_dir(root: Path) -> Path:
    found = sorted(p for p in (root / REPORT).iterdir() if p.is_dir())
    assert len(found) == 1, found
    return found[0]


def _text_of_html(path: Path) -> str:
    """The visible text of an HTML file, whitespace collapsed."""
    body = path.read_text(encoding="utf-8")
    body = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _pdf_text(path: Path) -> list[str]:
    return [" ".join(page.extract_text().replace("\xa0", " ").split()) for page in
            PdfReader(path).pages]  # fmt: skip


def _revise_deal_value(db: Path, tmp_path: Path, value: str) -> None:
    """Load a revision of the 2024 BRI deal value (griffith-bri-2024) through the CLI."""
    revision = tmp_path / f"revision-{value}.csv"
    revision.write_text(
        "indicator,initiative,geography,period,value,unit,source,note\n"
        f"new_deal_value,BRI,WLD,2024,{value},USD bn,griffith-bri-2024,Revised by the source.\n",
        encoding="utf-8",
    )
    result = invoke("ingest", revision, db=db)
    assert result.exit_code == 0, result.output
    assert "1 revised" in result.output


@pytest.fixture(scope="module")
def shipped_briefing(
    shipped_db_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The shipped briefing published once (PDF, HTML, CSV, manifest) from the shipped data."""
    folder = tmp_path_factory.mktemp("briefing")
    db = folder / "tracker.duckdb"
    copy_database(shipped_db_template, db)
    result = invoke("brief", REPORT, "--publish", "--out", folder / "out", db=db)
    assert result.exit_code == 0, result.output
    return db, _only_dir(folder / "out")


def test_pdf_shows_key_figures_shares_caveats_and_numbered_sources(
    shipped_briefing: tuple[Path, Path],
) -> None:
    _, out = shipped_briefing
    pages = _pdf_text(out / f"{REPORT}.pdf")
    text = " ".join(pages)
    # key figures: the 2024 deal value with its change against 2023 (92.4 -> 121.8)
    assert "USD 121.8 bn" in text
    assert "+29.4 (+31.8 %) vs 2023" in text
    assert "USD 94.8 bn" in text
    # target shares: trade 94.8 toward 100, the US's more than 60 of its 200, GG more than
    # 306 of 300 and of 400; the US's 60 is not a share of the G7's 600
    for share in ("94.8 %", "more than 30.0 %", "more than 102.0 %", "more than 76.5 %"):
        assert share in text
    assert "10.0 %" not in text
    assert "no comparable figure yet" in text
    assert "no data yet" in text  # partner_countries has no rows
    # the caveats come from initiatives.measures
    assert "so adding PGII and Global Gateway double-counts" in text
    # each EUR figure at its own year's rate, naming it: 2023's ECB annual average, and the
    # mean of the 255 daily ECB rates of 2025 (the PDF breaks the line after 'ecb-')
    assert "EUR 1 = USD 1.0813 (2023 rate, ecb-" in text
    assert "EUR 1 = USD 1.12998 (2025 rate, ecb-" in text
    assert "2024 rate" not in text
    # the GG trend through 2023 (179) and 9 Oct 2025 (more than 306) reaches 400 early 2027
    assert "Linear trend through the last two points (2023: 179 → 2025-10-09: > 306)" in text
    assert "around Feb 2027" in text
    assert "No trend: only one data point (2024)." in text
    # numbered sources at the end (over one page or more), each figure pointing to them
    start = max(i for i, page in enumerate(pages) if re.search(r"\d+\s+Sources", page))
    sources = " ".join(pages[start:])
    assert "Sources" in sources
    # the key messages cite first: the target's source is [1]
    assert re.search(r"\[1\] Global Gateway \(story page\)\. European Commission", sources)
    assert re.search(r"\[\d+\] China BRI Investment Report 2024\. Griffith Asia Institute", sources)
    assert "[13]" in text and "SECONDARY" in sources
    # the rate a figure was converted at is cited as a source too
    assert re.search(r"\[\d+\] Euro foreign exchange reference rates: historical daily rates", text)


def test_pdf_is_a4_with_page_numbers_header_toc_and_embedded_dejavu(
    shipped_briefing: tuple[Path, Path],
) -> None:
    _, out = shipped_briefing
    reader = PdfReader(out / f"{REPORT}.pdf")
    pages = _pdf_text(out / f"{REPORT}.pdf")
    assert len(pages) >= 4
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert f"Page 2 of {len(pages)}" in pages[1]
    # running header on every page after the cover: title and date (none on the cover)
    header = r"Infrastructure programmes compared: BRI, PGII, Global Gateway \d{1,2} \w+ \d{4}"
    assert all(re.search(header + r" Page \d+ of", page) for page in pages[1:])
    assert not re.search(header, pages[0])
    # table of contents with page numbers (leader dots), and PDF bookmarks
    assert re.search(r"1 Key messages ?\.{5,} ?1 ", pages[0])  # on the cover page
    assert re.search(r"2 Key figures ?\.{5,} ?2 ", pages[0])
    assert any("Sources" in str(item) for item in reader.outline)
    fonts = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for reference in resources["/Font"].values():
            font: Any = reference.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            fonts.add((str(font["/BaseFont"]).split("+")[-1], "/FontFile2" in descriptor))
    assert ("DejaVu-Sans", True) in fonts
    assert all(embedded for _, embedded in fonts)


def test_html_is_one_standalone_file(shipped_briefing: tuple[Path, Path]) -> None:
    _, out = shipped_briefing
    html = (out / f"{REPORT}.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "@font-face" not in html and "@import" not in html
    assert not re.search(r"""(src|href)=["'](?!#)""", html.replace('href="https://', 'x="')), (
        "only in-page links and http(s) source links are allowed"
    )
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    # comparison, targets and three series charts; the two series of one point (power
    # capacity, Central Asia trade) are figure boxes, not charts
    assert len(svgs) == 5
    # each chart draws its data: value labels from the data, not empty placeholders
    labels = [{unescape(t) for t in re.findall(r"<text[^>]*>([^<]+)</text>", svg)} for svg in svgs]
    assert {"1,308", "> 679", "> 345.8", "> 60, US only"} <= labels[0]  # comparison, USD basis
    assert {"94.8 %", "more than 30.0 %", "no comparable figure yet", "more than 102.0 %",
            "more than 76.5 %"} <= labels[1]  # share of each target  # fmt: skip
    assert {"212 (a)", "340 (b)", "176 (c)"} <= labels[2]  # deals per period
    assert {"~11.9 (a)", "> 22 (b)", "GW"} <= labels[-1]  # green-energy capacity, as stated
    assert '<p class="figure-value">USD 94.8 bn <span class="letter">(a)</span>' in html
    assert not any("undefined" in found for found in labels)
    text = _text_of_html(out / f"{REPORT}.html")
    assert "Issue 1" in text and "Data as of" in text


def test_manifest_lists_each_file_with_its_sha256_and_the_sources(
    shipped_briefing: tuple[Path, Path],
) -> None:
    db, out = shipped_briefing
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = {entry["name"] for entry in manifest["files"]}
    assert names == {f"{REPORT}.pdf", f"{REPORT}.html", f"{REPORT}.csv"}
    for entry in manifest["files"]:
        data = (out / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    newest = db_rows(db, "SELECT max(recorded_at) FROM observations")[0][0]
    assert isinstance(newest, datetime)
    assert manifest["data_as_of"] == newest.isoformat()
    assert manifest["issue"] == 1
    assert [s["number"] for s in manifest["sources"]] == list(
        range(1, len(manifest["sources"]) + 1)
    )
    assert not list(out.glob(".*tmp*")), "temporary files were left behind"


def test_csv_holds_the_numbers_behind_charts_and_tables_with_sources(
    shipped_briefing: tuple[Path, Path],
) -> None:
    _, out = shipped_briefing
    rows = list(csv.DictReader(io.StringIO((out / f"{REPORT}.csv").read_text("utf-8"))))
    sections = {row["section"] for row in rows}
    assert sections == {"Key messages", "Key figures", "Comparison", "Targets", "Series"}
    gg_2025 = next(
        r for r in rows
        if r["section"] == "Comparison" and r["initiative"] == "GG" and r["period"] == "2025-10-09"
    )  # fmt: skip
    assert float(gg_2025["value_usd"]) == pytest.approx(306 * 1.12998)
    # the figure as stated: 'over EUR 306 bn', in the row's own currency
    assert (gg_2025["qualifier"], gg_2025["currency"], gg_2025["unit"]) == (
        "more than", "EUR", "EUR bn"
    )  # fmt: skip
    assert gg_2025["source_title"] == "Reports of the Global Gateway Forum 2025"
    assert gg_2025["source_number"]
    assert all(row["source"] for row in rows if row["section"] != "Targets")


def test_the_run_is_recorded_with_what_the_next_issue_compares_against(
    shipped_briefing: tuple[Path, Path],
) -> None:
    db, out = shipped_briefing
    ((status, finished, issue, output_dir, outputs, key_figures, error),) = runs_rows(
        db,
        "SELECT status, finished_at, issue, output_dir, outputs, key_figures, error "
        "FROM report_runs WHERE report = ?",
        [REPORT],
    )
    assert (status, issue, error) == ("succeeded", 1, None)
    assert finished is not None
    assert output_dir == str(out)
    assert {Path(o["file"]).name for o in json.loads(str(outputs))} >= {f"{REPORT}.pdf"}
    figures = json.loads(str(key_figures))
    deal_value = next(f for f in figures if f["indicator"] == "new_deal_value")
    assert (deal_value["period"], deal_value["value"]) == ("2024", 121.8)


def test_second_issue_is_numbered_2_and_lists_the_revision_made_between_runs(
    tracker_db: Path, tmp_path: Path
) -> None:
    first = invoke("brief", REPORT, "--publish", "--format", "html", "--out", tmp_path / "one",
                   db=tracker_db)  # fmt: skip
    assert first.exit_code == 0, first.output
    _revise_deal_value(tracker_db, tmp_path, "125.0")
    second = invoke("brief", REPORT, "--publish", "--format", "html", "--out", tmp_path / "two",
                    db=tracker_db)  # fmt: skip
    assert second.exit_code == 0, second.output
    assert "issue 2" in second.output
    text = _text_of_html(_only_dir(tmp_path / "two") / f"{REPORT}.html")
    assert "Issue 2" in text
    assert "0 new point(s) and 1 revision(s)" in text
    assert re.search(r"revised Value of new deals BRI, WLD 2024 "
                     r"USD 121\.8 bn → USD 125 bn", text)  # fmt: skip
    assert "revised from 121.8 (issue 1)" in text  # key figure against the previous briefing
    first_text = _text_of_html(_only_dir(tmp_path / "one") / f"{REPORT}.html")
    assert "first issue" in first_text and "This is the first issue" in first_text


def test_as_of_before_a_revision_shows_the_old_value(tracker_db: Path, tmp_path: Path) -> None:
    # The shipped data as if loaded on 1 Jan 2025; the revision is loaded today.
    db_execute(tracker_db, "UPDATE observations SET recorded_at = TIMESTAMP '2025-01-01 09:00'")
    _revise_deal_value(tracker_db, tmp_path, "130.5")
    then = invoke(
        "brief", REPORT, "--format", "html", "--as-of", "2025-06-30", "--out", tmp_path / "then",
        db=tracker_db,
    )  # fmt: skip
    assert then.exit_code == 0, then.output
    now = invoke("brief", REPORT, "--publish", "--format", "html", "--out", tmp_path / "now",
                 db=tracker_db)  # fmt: skip
    assert now.exit_code == 0, now.output
    old_dir = tmp_path / "then" / REPORT / "2025-06-30"
    old_text = _text_of_html(old_dir / f"{REPORT}.html")
    assert "USD 121.8 bn" in old_text and "USD 130.5 bn" not in old_text
    assert "Rendered as of 2025-06-30 23:59 UTC" in old_text
    assert "30 June 2025" in old_text
    assert "2025-01-01 09:00 UTC" in old_text  # data as of: the newest vintage used then
    new_text = _text_of_html(_only_dir(tmp_path / "now") / f"{REPORT}.html")
    assert "USD 130.5 bn" in new_text
    manifest = json.loads((old_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"].startswith("2025-06-30T23:59:59")
    # a backdated render is a draft: recorded, but no issue; the current publish is issue 1
    issues = runs_rows(
        tracker_db, "SELECT as_of IS NOT NULL, issue, published FROM report_runs ORDER BY id"
    )
    assert issues == [(True, None, False), (False, 1, True)]


def test_as_of_in_the_future_or_malformed_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    for value, message in (("2999-01-01", "in the future"), ("June 2025", "expected a date")):
        result = invoke("brief", REPORT, "--as-of", value, "--out", tmp_path, db=tracker_db)
        assert result.exit_code == 2
        assert message in result.output
    assert not (tmp_path / REPORT).exists()


def test_reports_lists_definitions_with_schedule_and_last_run(
    tracker_db: Path, tmp_path: Path
) -> None:
    before = invoke("reports", db=tracker_db)
    assert before.exit_code == 0, before.output
    assert REPORT in before.output and "0 7 1 * *" in before.output
    assert "never" in before.output
    invoke("brief", REPORT, "--publish", "--format", "html", "--out", tmp_path / "out",
           db=tracker_db)  # fmt: skip
    invoke("brief", REPORT, "--format", "html", "--out", tmp_path / "drafts", db=tracker_db)
    after = invoke("reports", db=tracker_db)
    assert "last run: succeeded" in after.output and ", draft" in after.output
    assert f"last issue: issue 1 in {tmp_path / 'out' / REPORT}" in after.output


def test_brief_without_a_name_renders_every_definition(tracker_db: Path, tmp_path: Path) -> None:
    result = invoke("brief", "--format", "html", "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 0, result.output
    rendered = {p.name for p in (tmp_path / "out").iterdir()}
    shipped = {p.stem for p in (Path(__file__).parents[1] / "reports").glob("*.toml")}
    assert rendered == shipped


def test_a_second_point_gives_a_linear_trend_and_a_projected_date(
    tracker_db: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "trade-2023.csv"
    extra.write_text(
        "indicator,initiative,geography,period,value,unit,source,note\n"
        "trade_central_asia,BRI,central-asia,2023,80,USD bn,seed-003-cgtn-central-asia,\n",
        encoding="utf-8",
    )
    assert invoke("ingest", extra, db=tracker_db).exit_code == 0
    result = invoke("brief", REPORT, "--format", "html", "--out", tmp_path / "o", db=tracker_db)
    assert result.exit_code == 0, result.output
    text = _text_of_html(_only_dir(tmp_path / "o") / f"{REPORT}.html")
    # 80 (end 2023) -> 94.8 (end 2024): +14.8 in 366 days; the missing 5.2 take
    # 5.2 / 14.8 * 366 = 128.6 -> 129 days after 2024-12-31, i.e. 9 May 2025.
    assert (
        "Linear trend through the last two points (2023: 80 → 2024: 94.8) reaches the "
        "target around May 2025, before the due date." in text
    )


def test_as_of_today_renders_the_data_as_it_stands(tracker_db: Path, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    result = invoke(
        "brief", REPORT, "--format", "html", "--as-of", str(today), "--out", tmp_path / "o",
        db=tracker_db,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "USD 121.8 bn" in _text_of_html(_only_dir(tmp_path / "o") / f"{REPORT}.html")


def test_a_qualified_figure_is_printed_with_its_qualifier_and_a_share_or_trend_on_it_says_so(
    tracker_db: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "qualified.csv"
    extra.write_text(
        "indicator,initiative,geography,period,value,unit,source,note\n"
        "financing,PGII,WLD,2024,more than $60 billion,,Qualified test figure,\n"
        "trade_central_asia,BRI,central-asia,2023,~80,USD bn,seed-003-cgtn-central-asia,\n",
        encoding="utf-8",
    )
    assert invoke("ingest", extra, db=tracker_db).exit_code == 0
    result = invoke("brief", REPORT, "--format", "html", "--out", tmp_path / "o", db=tracker_db)
    assert result.exit_code == 0, result.output
    folder = _only_dir(tmp_path / "o")
    text = _text_of_html(folder / f"{REPORT}.html")
    assert "> USD 60 bn" in text
    assert "more than 10.0 %" in text  # of the USD 600 bn target: a lower bound too
    assert "(2023: ~80 → 2024: 94.8)" in text
    assert "It is built on figures that are not exact (approximate)" in text
    with open(folder / f"{REPORT}.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    qualified = [r for r in table if r["initiative"] == "PGII" and r["period"] == "2024"]
    assert qualified and {r["qualifier"] for r in qualified} == {"more than"}

"""Briefings and hostile or wrong input: escaping, no fetching, CSV formulas, bad
definitions and names (exit 2, file and key named, nothing written), killed renders."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, db_execute, ingest_rows, invoke, run_count, runs_rows
from tracker import briefing

REPORT = "programmes-compared"


class _CountingHandler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def _count(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _count

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that counts every request it gets."""

    class Handler(_CountingHandler):
        requests: list[str] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler.requests
    finally:
        server.shutdown()
        server.server_close()


def test_text_from_data_is_escaped_and_nothing_it_names_is_fetched(
    tracker_db: Path, tmp_path: Path, counting_server: tuple[str, list[str]]
) -> None:
    base, requests = counting_server
    hostile = (
        f'<script>alert(1)</script><img src="file:///etc/passwd"><img src="{base}/note.png">'
        f'<link rel="stylesheet" href="{base}/note.css"><style>@import url({base}/i.css)</style>'
    )
    ingest_rows(tracker_db, tmp_path, [
        ["new_deals", "BRI", "WLD", "2022", "100", "count", f"{base}/source-page", hostile],
    ])  # fmt: skip
    db_execute(
        tracker_db,
        "UPDATE initiatives SET name = ?, colour = ? WHERE id = 'BRI'",
        ["Belt and Road <b onmouseover=alert(2)>x</b>", f"red;background:url({base}/c.png)"],
    )
    result = invoke("brief", REPORT, "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 0, result.output
    out = next((tmp_path / "out" / REPORT).iterdir())
    html = (out / f"{REPORT}.html").read_text(encoding="utf-8")
    assert requests == [], "WeasyPrint fetched a URL taken from the data"
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<img src="file:///etc/passwd">' not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(2)&gt;" in html
    assert not re.search(r'style="[^"]*url\(', html), "a colour from data reached CSS"
    assert 'style="background: #7f7f7f"' in html  # the fallback colour instead
    assert f'src="{base}' not in html and f'href="{base}/note.css"' not in html
    # the source's own http address may be a link (printed, never fetched)
    assert f'<a class="url" href="{base}/source-page">' in html
    pdf_text = " ".join(page.extract_text() for page in PdfReader(out / f"{REPORT}.pdf").pages)
    assert "<script>alert(1)</script>" in pdf_text  # shown as text, not run
    assert requests == []


def test_the_pdf_url_fetcher_refuses_everything_outside_templates(
    counting_server: tuple[str, list[str]],
) -> None:
    base, requests = counting_server
    templates = PROJECT / "templates"
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/a.css">'
        '<link rel="stylesheet" href="file:///etc/passwd"></head>'
        f'<body><img src="{base}/b.png"><img src="../../../../etc/hosts">'
        '<img src="data:image/svg+xml,%3Csvg%3E%3C/svg%3E"><p>text</p></body></html>'
    )
    pdf = briefing.render_pdf(html)
    assert pdf.startswith(b"%PDF") and requests == []
    fetcher = briefing.templates_only_fetcher(templates)
    for url in (f"{base}/c.png", "file:///etc/passwd", "data:text/css,p{}",
                (templates / ".." / "pyproject.toml").as_uri(), "ftp://127.0.0.1/x"):  # fmt: skip
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    assert requests == []
    inside = fetcher.fetch((templates / "briefing.css").as_uri())
    assert b"DejaVu Sans" in inside.read()
    inside.close()


def test_source_urls_are_links_only_for_http_and_https(tracker_db: Path, tmp_path: Path) -> None:
    db_execute(tracker_db, "UPDATE sources SET url = 'javascript:alert(3)' "
                         "WHERE id = 'griffith-bri-2024'")  # fmt: skip
    db_execute(tracker_db, "UPDATE sources SET url = 'file:///etc/passwd' "
                         "WHERE id = 'gfdc-bri-2023'")  # fmt: skip
    result = invoke("brief", REPORT, "--format", "html", "--out", tmp_path, db=tracker_db)
    assert result.exit_code == 0, result.output
    html = next((tmp_path / REPORT).iterdir()).joinpath(f"{REPORT}.html").read_text("utf-8")
    assert 'href="javascript' not in html and 'href="file:' not in html
    assert '<span class="url">javascript:alert(3)</span>' in html
    assert '<span class="url">file:///etc/passwd</span>' in html
    assert '<a class="url" href="https://greenfdc.org">' in html


def test_csv_cells_that_would_run_as_formulas_are_neutralised(
    tracker_db: Path, tmp_path: Path
) -> None:
    ingest_rows(tracker_db, tmp_path, [
        ["new_deals", "BRI", "WLD", "2022", "150", "count", "gfdc-bri-2023",
         '=HYPERLINK("http://example.invalid","x")'],
        ["new_deal_value", "BRI", "WLD", "2021", "80", "USD bn", "gfdc-bri-2023", "@SUM(A1:A9)"],
    ])  # fmt: skip
    result = invoke("brief", REPORT, "--format", "html", "--out", tmp_path / "o", db=tracker_db)
    assert result.exit_code == 0, result.output
    out = next((tmp_path / "o" / REPORT).iterdir())
    rows = list(csv.DictReader(io.StringIO((out / f"{REPORT}.csv").read_text("utf-8"))))
    notes = {row["note"] for row in rows}
    assert '\'=HYPERLINK("http://example.invalid","x")' in notes
    assert "'@SUM(A1:A9)" in notes
    assert not [n for n in notes if n and n[0] in "=+-@"]
    assert all(float(row["value"]) for row in rows if row["value"])  # numbers stay numbers


GOOD_SECTION = """
[[sections]]
kind = "key_figures"
indicators = ["new_deal_value"]
"""


@pytest.mark.parametrize(
    ("definition", "key", "hint"),
    [
        (
            GOOD_SECTION.replace('"key_figures"', '"keyfigures"'),
            "sections.0.kind",
            "Did you mean 'key_figures'?",
        ),
        (
            GOOD_SECTION.replace('"new_deal_value"', '"new_deal_valu"'),
            "sections.0.indicators",
            "Did you mean 'new_deal_value'?",
        ),
        ('template = "nosuch.html"\n' + GOOD_SECTION, "template", "briefing.html"),
        (
            GOOD_SECTION + 'initiatives = ["BRI", "EU"]\n',
            "sections.0.initiatives",
            "initiative id from data/reference/initiatives.csv",
        ),
        (
            GOOD_SECTION + 'geographies = ["central_asia"]\n',
            "sections.0.geographies",
            "Did you mean 'central-asia'?",
        ),
        (
            '[[sections]]\nkind = "series"\n[[sections.charts]]\nindicator = "nope"\n',
            "sections.0.charts.0.indicator",
            "an indicator id from indicators/",
        ),
        ('[window]\nstart = "2013-13"\n' + GOOD_SECTION, "window.start", "expected a period"),
        ('formats = ["docx"]\n' + GOOD_SECTION, "formats.0", "expected one of pdf, html"),
    ],
)
def test_a_bad_definition_exits_2_naming_file_and_key_and_writes_nothing(
    tracker_db: Path, custom_home: Path, tmp_path: Path, definition: str, key: str, hint: str
) -> None:
    path = custom_home / "reports" / "bad.toml"
    path.write_text(
        'title = "T"\naudience = "A"\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n' + definition,
        encoding="utf-8",
    )
    result = invoke("brief", "bad", "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(path) in message and f"key '{key}'" in message and hint in message
    assert not (tmp_path / "out").exists()
    assert run_count(tracker_db) == 0


def test_one_bad_definition_stops_rendering_all_before_anything_is_written(
    tracker_db: Path, custom_home: Path, tmp_path: Path
) -> None:
    shutil.copy(PROJECT / "reports" / f"{REPORT}.toml", custom_home / "reports")
    (custom_home / "reports" / "zz-bad.toml").write_text(
        'title = "T"\naudience = "A"\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n'
        + GOOD_SECTION.replace('"new_deal_value"', '"unknown_one"'),
        encoding="utf-8",
    )
    result = invoke("brief", "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 2
    assert "zz-bad.toml: key 'sections.0.indicators'" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
    assert run_count(tracker_db) == 0


def test_an_unknown_report_name_exits_2_with_the_close_match(
    tracker_db: Path, tmp_path: Path
) -> None:
    result = invoke("brief", "programmes-compare", "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "Unknown report 'programmes-compare'" in message
    assert "Did you mean 'programmes-compared'?" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name", ["../programmes-compared", "/etc/passwd", "reports/programmes-compared", "a\0b", ".."]
)
def test_a_report_name_holding_a_path_is_refused(
    tracker_db: Path, tmp_path: Path, name: str
) -> None:
    result = invoke("brief", name, "--out", tmp_path / "out", db=tracker_db)
    assert result.exit_code == 2
    assert "refused" in result.output
    assert not (tmp_path / "out").exists()
    assert run_count(tracker_db) == 0


def test_an_unknown_format_exits_2(tracker_db: Path, tmp_path: Path) -> None:
    result = invoke(
        "brief", REPORT, "--format", "pdf,docx", "--out", tmp_path / "out", db=tracker_db
    )
    assert result.exit_code == 2 and "--format" in result.output
    assert not (tmp_path / "out").exists()


def test_a_killed_render_is_failed_when_next_seen_and_never_shown_as_succeeded(
    tracker_db: Path, tmp_path: Path
) -> None:
    tracker = Path(sys.executable).with_name("tracker")
    process = subprocess.Popen(
        [
            str(tracker),
            "--db",
            str(tracker_db),
            "brief",
            REPORT,
            "--publish",
            "--out",
            str(tmp_path / "o"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TRACKER_BUSY_TIMEOUT": "30"},
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                if run_count(tracker_db) == 1:
                    break
            except duckdb.Error:
                pass  # the render holds the file for a moment
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert runs_rows(tracker_db, "SELECT status, finished_at FROM report_runs") == [
        ("running", None)
    ]
    listing = invoke("reports", db=tracker_db)
    # its process is gone: the next command that reads the run history marks it failed
    assert "last run: failed" in listing.output and "succeeded" not in listing.output
    ((status, error),) = runs_rows(tracker_db, "SELECT status, error FROM report_runs")
    assert status == "failed" and f"(PID {process.pid}) is gone" in str(error)
    again = invoke("brief", REPORT, "--format", "html", "--publish", "--out", tmp_path / "o",
                   db=tracker_db)  # fmt: skip
    assert again.exit_code == 0
    assert "issue 1" in again.output  # the killed run is not an issue


def test_a_secret_local_file_named_in_html_never_reaches_the_pdf(tmp_path: Path) -> None:
    """If WeasyPrint loaded any of these, the secret would show in the PDF's text."""
    secret = "TOP-SECRET-7f3a9c"
    css = tmp_path / "secret.css"
    css.write_text(f'body::after {{ content: "{secret}"; }}')
    svg = tmp_path / "secret.svg"
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text y="20">{secret}</text></svg>')
    html = (
        f'<html><head><link rel="stylesheet" href="{css.as_uri()}">'
        f"<style>@import url({css.as_uri()});</style></head><body>"
        f'<img src="{svg.as_uri()}"><object data="{svg.as_uri()}"></object>'
        f'<embed src="{svg.as_uri()}"><div style="background: url({svg.as_uri()})">x</div>'
        f'<img src="{svg.name}"><p>visible</p></body></html>'
    )
    pdf = briefing.render_pdf(html)  # templates/ is the only folder it may read
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "visible" in text
    assert secret not in text
    assert secret.encode() not in pdf

"""Drafts and published issues, the editor's note and the archive page (issue 14, items 2 and
9): through the real `tracker brief`, `deliver` and `reports`, real PDFs read back with
pypdf, a real SMTP server on loopback and, where Debian's `chromium` is installed, the archive
page opened in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from tests.conftest import (
    PROJECT,
    Inbox,
    copy_database,
    invoke,
    runs_file,
    runs_rows,
)

REPORT = "programmes-compared"
NOTE = """# Why this issue

The **G7** figure counts the US only. <b>raw html</b> <script>alert(1)</script>
See [the summit](https://example.org/summit) and [a file](file:///etc/passwd).

![a chart of deals](http://127.0.0.1:9/chart.png)

- first point
- second point
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped definitions and templates: drafts, issues, the
    archive and the outbox go into its reports/."""
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox", "drafts"))  # fmt: skip
    monkeypatch.setenv("TRACKER_HOME", str(home))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"TRACKER_SMTP_{name}", raising=False)
    return home


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _pages(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(pdf).pages]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Links(HTMLParser):
    """Every href and src of a page, and whether it has a script or a stylesheet link."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag in ("script", "link", "img", "iframe", "object", "embed") or values.get("src"):
            self.fetched.append(tag)


def _links_of(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


# --- drafts ---------------------------------------------------------------------------------


def test_brief_renders_a_draft_marked_on_every_page_that_takes_no_number(
    tracker_db: Path, home: Path
) -> None:
    result = invoke("brief", REPORT, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert f"{REPORT}: draft of {_today()}" in result.output
    folder = home / "reports" / "drafts" / REPORT / _today()
    pages = _pages(folder / f"{REPORT}.pdf")
    assert len(pages) > 3 and all("DRAFT" in text for text in pages)
    assert "Issue No." not in pages[0] and "Draft: not a published issue" in pages[0]
    html = (folder / f"{REPORT}.html").read_text(encoding="utf-8")
    assert '<div class="draft-mark" role="note">DRAFT' in html
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["published"], manifest["issue"]) == (False, None)
    assert runs_rows(tracker_db, "SELECT published, issue, status FROM report_runs") == [
        (False, None, "succeeded")
    ]
    assert not (home / "reports" / "out").exists()  # no issue folder, no archive page
    listing = invoke("reports", db=tracker_db)
    assert "succeeded" in listing.output and ", draft" in listing.output
    assert "last issue: -" in listing.output


def test_a_draft_is_never_the_previous_briefing_nor_counts_for_the_schedule(
    tracker_db: Path, home: Path
) -> None:
    assert invoke("brief", REPORT, "--format", "html", db=tracker_db).exit_code == 0
    schedule = invoke("schedule", "list", db=tracker_db)
    assert schedule.exit_code == 0, schedule.output
    assert "never" in schedule.output  # the draft is not a run the schedule counts
    published = invoke("brief", REPORT, "--publish", "--format", "html", db=tracker_db)
    assert published.exit_code == 0, published.output
    assert f"{REPORT}: issue 1 of {_today()}" in published.output
    folder = home / "reports" / "out" / REPORT / f"1-{_today()}"
    text = (folder / f"{REPORT}.html").read_text(encoding="utf-8")
    assert "This is the first issue" in text and '<div class="draft-mark"' not in text
    assert invoke("brief", REPORT, "--format", "html", db=tracker_db).exit_code == 0
    rows = runs_rows(tracker_db, "SELECT published, issue FROM report_runs ORDER BY id")
    assert rows == [(False, None), (True, 1), (False, None)]


def test_as_of_renders_are_drafts_unless_published_on_purpose(tracker_db: Path, home: Path) -> None:
    draft = invoke("brief", REPORT, "--format", "html", "--as-of", "2026-01-15", db=tracker_db)
    assert draft.exit_code == 0, draft.output
    assert (home / "reports" / "drafts" / REPORT / "2026-01-15" / f"{REPORT}.html").is_file()
    issue = invoke("brief", REPORT, "--format", "html", "--as-of", "2026-01-15", "--publish",
                   db=tracker_db)  # fmt: skip
    assert issue.exit_code == 0, issue.output
    assert (home / "reports" / "out" / REPORT / "1-2026-01-15" / f"{REPORT}.html").is_file()
    rows = runs_rows(tracker_db, "SELECT as_of IS NOT NULL, published, issue FROM report_runs")
    assert rows == [(True, False, None), (True, True, 1)]


# --- published issues -----------------------------------------------------------------------


def test_two_publishes_on_one_day_are_two_folders_and_issue_1_survives_issue_2(
    tracker_db: Path, home: Path
) -> None:
    first = invoke("brief", REPORT, "--publish", db=tracker_db)
    assert first.exit_code == 0, first.output
    one = home / "reports" / "out" / REPORT / f"1-{_today()}"
    before = {path.name: _sha256(path) for path in one.iterdir()}
    second = invoke("brief", REPORT, "--publish", db=tracker_db)
    assert second.exit_code == 0, second.output
    assert f"{REPORT}: issue 2 of {_today()}" in second.output
    two = home / "reports" / "out" / REPORT / f"2-{_today()}"
    assert {path.name: _sha256(path) for path in one.iterdir()} == before
    manifest = json.loads((one / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["published"], manifest["issue"]) == (True, 1)
    for entry in manifest["files"]:  # issue 1's files are the ones its manifest names
        assert _sha256(one / entry["name"]) == entry["sha256"]
    pages = _pages(two / f"{REPORT}.pdf")
    assert "ISSUE 2" in pages[0] and "No. 2" in pages[0]
    assert not any("DRAFT" in text for text in pages)
    assert "No new points and no revisions since issue 1" in " ".join(" ".join(pages).split())


def test_a_folder_holding_another_databases_issue_is_never_overwritten(
    shipped_db_template: Path, tmp_path: Path, home: Path
) -> None:
    first_db = copy_database(shipped_db_template, tmp_path / "first.duckdb")
    second_db = copy_database(shipped_db_template, tmp_path / "second.duckdb")
    out = tmp_path / "shared-out"
    assert invoke("brief", REPORT, "--publish", "--format", "html", "--out", out,
                  db=first_db).exit_code == 0  # fmt: skip
    folder = out / REPORT / f"1-{_today()}"
    before = {path.name: _sha256(path) for path in folder.iterdir()}
    refused = invoke("brief", REPORT, "--publish", "--format", "html", "--out", out,
                     db=second_db)  # fmt: skip
    assert refused.exit_code == 1
    assert "a published issue is never overwritten" in " ".join(refused.output.split())
    assert "Traceback" not in refused.output
    assert {path.name: _sha256(path) for path in folder.iterdir()} == before
    assert runs_rows(second_db, "SELECT status, published FROM report_runs") == [("failed", True)]


# --- the editor's note ----------------------------------------------------------------------


def test_the_editors_note_follows_the_cover_as_markdown_with_html_shown_as_text(
    tracker_db: Path, home: Path, tmp_path: Path
) -> None:
    note = tmp_path / "note.md"
    note.write_text(NOTE, encoding="utf-8")
    result = invoke("brief", REPORT, "--publish", "--note", note, db=tracker_db)
    assert result.exit_code == 0, result.output
    folder = home / "reports" / "out" / REPORT / f"1-{_today()}"
    pages = _pages(folder / f"{REPORT}.pdf")
    assert "Editor's note" not in pages[0]
    page = " ".join(pages[1].split())
    assert page.index("Editor's note") < page.index("Key messages")  # the note, then the body
    assert "The G7 figure counts the US only. <b>raw html</b> <script>alert(1)</script>" in page
    assert "[image: a chart of deals]" in page and "first point" in page
    assert "[a file](file:///etc/passwd)" in page  # only http(s) and mailto become links
    html = (folder / f"{REPORT}.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;raw html&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html and "chart.png" not in html
    assert '<a href="https://example.org/summit">the summit</a>' in html
    assert "<strong>G7</strong>" in html
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["editor_note"]["markdown"] == NOTE
    assert runs_rows(tracker_db, "SELECT note FROM report_runs") == [(NOTE,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"   \n", "the file is empty"),
        (b"caf\xe9 note", "is not UTF-8"),
    ],
)
def test_a_note_that_is_not_a_markdown_file_is_refused_before_anything_runs(
    tracker_db: Path, home: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    note = tmp_path / "note.md"
    if content is not None:
        note.write_bytes(content)
    result = invoke("brief", REPORT, "--publish", "--note", note, db=tracker_db)
    assert result.exit_code == 2
    assert f"--note {note}" in " ".join(result.output.split()) and message in result.output
    assert not runs_file(tracker_db).exists() or runs_rows(
        tracker_db, "SELECT count(*) FROM report_runs"
    ) == [(0,)]
    assert not (home / "reports" / "out").exists()


# --- delivery -------------------------------------------------------------------------------


def _use(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in inbox.environment().items():
        monkeypatch.setenv(key, value)


def test_deliver_draft_sends_a_test_copy_recorded_nowhere_and_owed_never(
    tracker_db: Path, home: Path, tmp_path: Path, smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    note = tmp_path / "note.md"
    note.write_text("Check **the PGII row** before we publish.\n", encoding="utf-8")
    assert invoke("brief", REPORT, "--format", "pdf", "--note", note, db=tracker_db).exit_code == 0
    _use(smtp_server, monkeypatch)
    no_to = invoke("deliver", REPORT, "--draft", db=tracker_db)
    assert no_to.exit_code == 2 and "--to ADDRESS" in no_to.output
    as_issue = invoke("deliver", REPORT, db=tracker_db)  # only a draft exists
    assert as_issue.exit_code == 2
    assert "No published issue 'programmes-compared' to deliver" in " ".join(
        as_issue.output.split()
    )
    run_id = runs_rows(tracker_db, "SELECT id FROM report_runs")[0][0]
    named = invoke("deliver", REPORT, "--run", str(run_id), db=tracker_db)
    assert named.exit_code == 2 and "is a draft, never delivered as an issue" in named.output
    assert smtp_server.messages == []

    sent = invoke("deliver", REPORT, "--draft", "--to", "editor@example.org", db=tracker_db)
    assert sent.exit_code == 0, sent.output
    assert "test copy of the draft" in sent.output
    (message,) = smtp_server.messages
    assert message["Subject"].startswith("[TEST] ")
    assert "draft of" in message["Subject"] and "issue" not in message["Subject"].split(":")[1][:8]
    assert smtp_server.envelopes[0][1] == ["editor@example.org"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert "Draft (not a published issue)" in text
    assert "Editor's note\nCheck **the PGII row** before we publish." in text
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "<strong>the PGII row</strong>" in html.get_content()
    assert [p.get_filename() for p in message.iter_attachments()] == [f"{REPORT}.pdf"]
    assert runs_rows(tracker_db, "SELECT count(*) FROM deliveries") == [(0,)]
    assert runs_rows(tracker_db, "SELECT delivery FROM report_runs") == [(None,)]
    assert not (home / "reports" / "outbox").exists()


def test_delivering_a_published_issue_carries_its_editors_note(
    tracker_db: Path, home: Path, tmp_path: Path, smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    note = tmp_path / "note.md"
    note.write_text("Issue 1 notes a *change of method*.\n", encoding="utf-8")
    published = invoke("brief", REPORT, "--publish", "--format", "pdf", "--note", note,
                       db=tracker_db)  # fmt: skip
    assert published.exit_code == 0, published.output
    assert invoke("brief", REPORT, "--format", "pdf", db=tracker_db).exit_code == 0  # a draft
    _use(smtp_server, monkeypatch)
    result = invoke("deliver", REPORT, "--to", "desk@example.org", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "issue 1 (run 1)" in result.output  # the issue, not the newer draft
    (message,) = smtp_server.messages
    assert not message["Subject"].startswith("[TEST]") and "issue 1" in message["Subject"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Issue 1 notes a *change of method*." in body.get_content()
    assert (home / "reports" / "outbox" / f"{REPORT}.pdf").is_file()


# --- the migration of existing run records --------------------------------------------------


def test_existing_runs_keep_their_issue_numbers_and_old_folders_stay_readable(
    tracker_db: Path, home: Path, tmp_path: Path
) -> None:
    """A run history written before migration runs/005: two issues, a failed run and an
    --as-of render (which printed issue 1 but never counted)."""
    old = tmp_path / "old-out" / REPORT / "2026-01-01"
    old.mkdir(parents=True)
    (old / f"{REPORT}.pdf").write_bytes(b"%PDF-1.7 old issue 2\n")
    (old / "manifest.json").write_text(json.dumps({"report": REPORT, "issue": 2}))
    runs = runs_file(tracker_db)
    runs.unlink(missing_ok=True)  # `tracker init` made one: this test writes an older one
    with duckdb.connect(str(runs)) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)")  # fmt: skip
        older = sorted((PROJECT / "tracker/store/sql/runs").glob("*.sql"))[:4]
        for number, path in enumerate(older, start=1):
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, now())",
                         [number, path.stem[4:]])  # fmt: skip
        insert = (
            "INSERT INTO report_runs (report, status, started_at, finished_at, briefing_date, "
            "as_of, data_cutoff, issue, formats, output_dir, outputs, key_figures, "
            "definition_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pdf', ?, ?, ?, 'x')"
        )
        outputs = json.dumps([{"file": str(old / f"{REPORT}.pdf"), "sha256": "x"}])
        figures = json.dumps([{"indicator": "new_deal_value", "initiative": "BRI",
                               "geography": "WLD", "period": "2024", "value": 121.8,
                               "currency": "USD"}])  # fmt: skip
        for status, day, as_of, issue, folder in (
            ("succeeded", "2025-12-01", None, 1, None),
            ("succeeded", "2026-01-01", None, 2, str(old)),
            ("failed", "2026-01-15", None, None, None),
            ("succeeded", "2025-06-30", "2025-06-30 23:59:59", 1, None),
        ):
            stamp = f"{day} 07:00:00" if as_of is None else "2026-01-16 07:00:00"
            conn.execute(insert, [REPORT, status, stamp, stamp, day, as_of, as_of or stamp,
                                  issue, folder, outputs if folder else None, figures])  # fmt: skip
    listing = invoke("reports", db=tracker_db)  # opening the run history migrates it
    assert listing.exit_code == 0, listing.output
    assert f"last issue: issue 2 in {old}" in listing.output
    rows = runs_rows(tracker_db, "SELECT issue, published FROM report_runs ORDER BY id")
    assert rows == [(1, True), (2, True), (None, True), (1, False)]
    result = invoke("brief", REPORT, "--publish", "--format", "html", "--out",
                    tmp_path / "old-out", db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "issue 3" in result.output
    text = (tmp_path / "old-out" / REPORT / f"3-{_today()}" / f"{REPORT}.html").read_text()
    assert "since issue 2" in text
    archive = (tmp_path / "old-out" / "index.html").read_text(encoding="utf-8")
    assert f'href="{REPORT}/2026-01-01/{REPORT}.pdf"' in archive  # the old issue, linked
    assert "No. 2" in archive and "No. 3" in archive
    assert "No. 1" not in archive  # recorded without a folder: nothing to link to


# --- the archive page -----------------------------------------------------------------------


def test_the_archive_lists_every_issue_with_links_that_resolve_in_chromium(
    tracker_db: Path, home: Path, tmp_path: Path
) -> None:
    for _ in range(2):
        assert invoke("brief", REPORT, "--publish", db=tracker_db).exit_code == 0
    assert invoke("brief", REPORT, db=tracker_db).exit_code == 0  # a draft: not listed
    variants = invoke("brief", "country-profile", "--param", "geography=UZB", "--publish",
                      "--format", "html", db=tracker_db)  # fmt: skip
    assert variants.exit_code == 0, variants.output
    assert "archive:" in variants.output
    out = home / "reports" / "out"
    page = out / "index.html"
    html = page.read_text(encoding="utf-8")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # written atomically
    assert html.count('<td class="issue-number">') == 3
    assert "Infrastructure programmes compared" in html and "Country profile: Uzbekistan" in html
    # an issue with key messages lists them; one without (the profile) its key figures
    assert "BRI construction contracts (value), BRI, World, rose 81.6 %" in html
    assert "Key figures" in html
    assert "drafts" not in html
    links = _links_of(page)
    assert links.fetched == []  # no script, stylesheet, image or frame: nothing is fetched
    assert len(links.hrefs) == 2 * 2 + 1  # PDF and HTML of two issues, HTML of the profile
    for href in links.hrefs:
        assert "://" not in href and not href.startswith("/")
        assert (out / href).is_file(), href
    programmes = html[html.index("<h2>Infrastructure programmes compared") :]
    assert programmes.index("No. 2") < programmes.index("No. 1")  # newest first

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): the "
                    "archive page was checked as HTML only, not opened in a browser")  # fmt: skip
    shot = tmp_path / "archive.png"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1200,900",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("No. ") == 3 and "Country profile: Uzbekistan" in dom.stdout

"""`tracker deliver`: the outbox copy and the e-mail over a real SMTP server on loopback
(aiosmtpd), what the e-mail says, and what is recorded when delivery fails."""

from __future__ import annotations

import dataclasses
import io
import shutil
from datetime import date
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, Inbox, copy_database, free_port, invoke, runs_file, runs_rows
from tracker import definitions
from tracker.deliver.messages import briefing_message, key_figure_lines

REPORT = "programmes-compared"


@pytest.fixture(scope="module")
def rendered(shipped_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped briefing rendered once (PDF, HTML, CSV) into a database of its own."""
    folder = tmp_path_factory.mktemp("rendered")
    db = folder / "tracker.duckdb"
    copy_database(shipped_db_template, db)
    result = invoke("brief", REPORT, "--publish", "--format", "pdf", "--out", folder / "out", db=db)
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped definitions and templates; the outbox goes here."""
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox"))  # fmt: skip
    monkeypatch.setenv("TRACKER_HOME", str(home))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"TRACKER_SMTP_{name}", raising=False)
    return home


@pytest.fixture
def db(rendered: Path, tmp_path: Path) -> Path:
    """A copy of the rendered database and its run history for one test."""
    path = tmp_path / "tracker.duckdb"
    shutil.copyfile(rendered, path)
    shutil.copyfile(runs_file(rendered), runs_file(path))
    return path


def _use(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in inbox.environment().items():
        monkeypatch.setenv(key, value)


def test_deliver_e_mails_text_html_and_the_pdf_and_fills_the_outbox(
    db: Path, home: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(smtp_server, monkeypatch)
    result = invoke("deliver", REPORT, db=db)
    assert result.exit_code == 0, result.output
    assert "e-mailed to infrastructure-briefing@example.org" in result.output
    assert smtp_server.password not in result.output
    ((sender, recipients, authenticated),) = smtp_server.envelopes
    assert (sender, recipients, authenticated) == (
        "tracker@example.org", ["infrastructure-briefing@example.org"], True,
    )  # fmt: skip
    (message,) = smtp_server.messages
    assert message["Subject"].startswith("Infrastructure programmes compared")
    assert "issue 1" in message["Subject"]
    text = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert text is not None and page is not None
    body = text.get_content()
    assert "Key figures" in body and "This is the first issue." in body
    assert (
        "Value of new deals (BRI, World), 2024: USD 121.8 bn; +29.4 (+31.8\u00a0%) vs 2023" in body
    )
    assert "<table" in page.get_content() and "USD 121.8 bn" in page.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{REPORT}.pdf"
    pdf = attachment.get_content()
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 4
    assert "Infrastructure programmes compared" in reader.pages[0].extract_text()
    outbox = home / "reports" / "outbox" / f"{REPORT}.pdf"
    assert outbox.read_bytes() == pdf
    assert not list(outbox.parent.glob(".*tmp*"))
    rows = runs_rows(db, "SELECT channel, status, attempt, recipients FROM deliveries ORDER BY id")
    assert rows == [
        ("outbox", "sent", 1, str(outbox)),
        ("email", "sent", 1, "infrastructure-briefing@example.org"),
    ]


def test_to_overrides_the_recipients(
    db: Path, home: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(smtp_server, monkeypatch)
    result = invoke("deliver", REPORT, "--to", "a@example.org", "--to", "b@example.org", db=db)
    assert result.exit_code == 0, result.output
    assert smtp_server.envelopes[0][1] == ["a@example.org", "b@example.org"]
    assert smtp_server.messages[0]["To"] == "a@example.org, b@example.org"


def test_the_e_mail_says_what_changed_since_the_previous_issue(
    db: Path, home: Path, tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    revision = tmp_path / "revision.csv"
    revision.write_text(
        "indicator,initiative,geography,period,value,unit,source\n"
        "new_deal_value,BRI,WLD,2024,125,USD bn,griffith-bri-2024\n",
        encoding="utf-8",
    )
    assert invoke("ingest", revision, db=db).exit_code == 0
    second = invoke(
        "brief", REPORT, "--publish", "--format", "pdf", "--out", tmp_path / "out", db=db
    )
    assert second.exit_code == 0, second.output
    _use(smtp_server, monkeypatch)
    assert invoke("deliver", REPORT, db=db).exit_code == 0
    body = smtp_server.messages[0].get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "1 key figure(s) changed since issue 1:" in text
    assert "- Value of new deals (BRI, World): revised USD 121.8 bn -> USD 125 bn" in text


def test_a_failed_delivery_is_retried_recorded_and_the_briefing_kept(
    db: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("TRACKER_SMTP_TLS", "none")
    monkeypatch.setenv("TRACKER_SMTP_FROM", "tracker@example.org")
    monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "pa55-w0rd-never-shown")
    monkeypatch.setenv("TRACKER_RUN_RETRIES", "2")
    monkeypatch.setenv("TRACKER_RETRY_DELAY", "0.05")
    result = invoke("deliver", REPORT, db=db)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "e-mail to infrastructure-briefing@example.org via 127.0.0.1:" in message
    assert "failed after 3 attempt(s): ConnectionRefusedError" in message
    assert "The rendered briefing is kept" in message
    assert "pa55-w0rd-never-shown" not in result.output
    rows = runs_rows(db, "SELECT channel, status, attempt FROM deliveries ORDER BY id")
    assert rows == [("outbox", "sent", 1), ("email", "failed", 1), ("email", "failed", 2),
                    ("email", "failed", 3)]  # fmt: skip
    ((outputs,),) = runs_rows(db, "SELECT outputs FROM report_runs")
    assert all(Path(p).is_file() for p in str(outputs).split('"file": "')[1:] for p in
               [p.split('"')[0]])  # fmt: skip
    assert (home / "reports" / "outbox" / f"{REPORT}.pdf").is_file()


def test_without_smtp_settings_the_outbox_is_filled_and_the_message_says_what_to_set(
    db: Path, home: Path
) -> None:
    result = invoke("deliver", REPORT, db=db)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "TRACKER_SMTP_HOST is not set" in message and "TRACKER_SMTP_*" in message
    assert (home / "reports" / "outbox" / f"{REPORT}.pdf").is_file()
    assert runs_rows(db, "SELECT channel, status FROM deliveries ORDER BY id") == [
        ("outbox", "sent"), ("email", "skipped"),
    ]  # fmt: skip


def test_deliver_without_a_rendered_briefing_exits_2(
    tracker_db: Path, home: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(smtp_server, monkeypatch)
    result = invoke("deliver", REPORT, db=tracker_db)
    assert result.exit_code == 2
    assert "No published issue 'programmes-compared' to deliver" in " ".join(result.output.split())
    assert smtp_server.messages == []
    unknown = invoke("deliver", "programmes-compare", db=tracker_db)
    assert unknown.exit_code == 2 and "Did you mean 'programmes-compared'?" in unknown.output


def test_tracker_sql_reads_runs_and_deliveries_from_the_run_history(
    db: Path, empty_db: Path
) -> None:
    result = invoke("sql", "--format", "csv", "SELECT report, status, triggered_by, attempt "
                    "FROM report_runs", db=db)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == f"{REPORT},succeeded,manual,1"
    joined = invoke("sql", "--format", "csv", "SELECT count(*) AS n FROM report_runs r "
                    "LEFT JOIN runs.deliveries d ON d.run_id = r.id", db=db)  # fmt: skip
    assert joined.exit_code == 0 and joined.output.splitlines()[1] == "1"
    # `tracker init` creates an empty run history: before any run the names answer, empty
    assert runs_file(empty_db).exists()
    never = invoke("sql", "--format", "csv", "SELECT count(*) AS n FROM report_runs", db=empty_db)
    assert never.exit_code == 0 and never.output.splitlines()[1] == "0"
    refused = invoke("sql", "DELETE FROM runs.report_runs", db=db)
    assert refused.exit_code == 2
    assert runs_rows(db, "SELECT count(*) FROM report_runs") == [(1,)]


def test_a_figure_reads_the_same_in_the_pdf_the_html_the_e_mail_and_tracker_indicators(
    shipped_db_template: Path,
    home: Path,
    tmp_path: Path,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "tracker.duckdb"
    copy_database(shipped_db_template, db)
    result = invoke("brief", REPORT, "--publish", "--format", "pdf,html", "--out", tmp_path / "out",
                    db=db)  # fmt: skip
    assert result.exit_code == 0, result.output
    (pdf,) = (tmp_path / "out").rglob(f"{REPORT}.pdf")
    pdf_text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    html_text = pdf.with_suffix(".html").read_text(encoding="utf-8")
    _use(smtp_server, monkeypatch)
    assert invoke("deliver", REPORT, db=db).exit_code == 0
    (message,) = smtp_server.messages
    plain, page = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and page is not None
    listing = invoke("indicators", db=db)
    assert listing.exit_code == 0, listing.output
    # money with its currency first, a count with its noun, power with its unit
    for figure in ("USD 121.8 bn", "176 deals", "156 GW", "USD 94.8 bn"):
        for where, shown in (("PDF", pdf_text), ("HTML", html_text), ("e-mail text",
                             plain.get_content()), ("e-mail HTML", page.get_content()),
                             ("tracker indicators", listing.output)):  # fmt: skip
            assert figure in shown, f"{figure!r} not in the {where}"
    for old_form in ("121.8 USD bn", "176 count"):
        assert old_form not in plain.get_content() + listing.output


def test_a_qualified_figure_reads_the_same_in_the_pdf_the_html_the_e_mail_and_tracker_indicators(
    shipped_db_template: Path,
    home: Path,
    tmp_path: Path,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "tracker.duckdb"
    copy_database(shipped_db_template, db)
    later = tmp_path / "later.csv"
    later.write_text(
        "indicator,initiative,geography,period,value,source\n"
        "power_capacity,BRI,WLD,2025-08-01,~170 gigawatts,seed-000-bri-2-0\n",
        encoding="utf-8",
    )
    assert invoke("ingest", later, db=db).exit_code == 0
    result = invoke("brief", REPORT, "--publish", "--format", "pdf,html", "--out", tmp_path / "out",
                    db=db)  # fmt: skip
    assert result.exit_code == 0, result.output
    (pdf,) = (tmp_path / "out").rglob(f"{REPORT}.pdf")
    pdf_text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    html_text = pdf.with_suffix(".html").read_text(encoding="utf-8")
    _use(smtp_server, monkeypatch)
    assert invoke("deliver", REPORT, db=db).exit_code == 0
    (message,) = smtp_server.messages
    plain, page = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and page is not None
    listing = invoke("indicators", db=db)
    for where, shown in (("PDF", pdf_text), ("HTML", html_text), ("e-mail text",
                         plain.get_content()), ("e-mail HTML", page.get_content()),
                         ("tracker indicators", listing.output)):  # fmt: skip
        assert "~170 GW" in shown, f"'~170 GW' not in the {where}"


def test_key_figures_recorded_before_the_e_mail_read_them_still_make_lines() -> None:
    """Runs recorded by an earlier tracker hold six fields per key figure, no name or unit."""
    old = '[{"indicator": "new_deals", "initiative": "BRI", "geography": "WLD", '
    previous = {"key_figures": old + '"period": "2024-H2", "value": 160.0, "currency": null}]'}
    run = {"key_figures": old + '"period": "2025-H1", "value": 176.0, "currency": null}]'}
    (line,) = key_figure_lines(run, previous)
    assert (line.name, line.where, line.period, line.value, line.change) == (
        "new_deals", "BRI, WLD", "2025-H1", "176", "",
    )  # fmt: skip
    assert line.since_previous == "new period 2025-H1: 176 (was 2024-H2: 160)"
    assert key_figure_lines({"key_figures": None}, None) == []


def test_a_line_break_in_a_title_from_data_never_splits_the_subject_header(
    tmp_path: Path,
) -> None:
    # A variant's title takes a geography's name from the database, which no definition
    # check sees: "Kazakhstan\nBcc: ..." must stay one Subject line, with no Bcc header.
    definition = definitions.load_briefing(
        PROJECT / "reports" / f"{REPORT}.toml", PROJECT / "templates"
    )
    tampered = dataclasses.replace(definition, title="Profile: Kazakhstan\r\nBcc: x@example.org")
    pdf = tmp_path / "b.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    run = {"issue": 3, "briefing_date": date(2026, 11, 25), "data_as_of": None}
    message = briefing_message(tampered, run, None, pdf, ["a@example.org"], "t@example.org")
    raw = message.as_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Profile: Kazakhstan Bcc: x@example.org: issue 3, 25 November 2026"

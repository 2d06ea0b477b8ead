"""The e-mail of an issue (issue 14, issue 12 item 8) through the real `tracker ingest`,
`brief` and `deliver`, over a real SMTP server on loopback (aiosmtpd): key messages first,
then the editor's note, then the key figures with their sources, secondary tags, the
contributor they count and the sources-differ line; the sources cited, numbered as in the
PDF; no path of the analyst's machine; a test copy with the same content."""

from __future__ import annotations

import re
import shutil
from email.message import EmailMessage
from html import unescape
from pathlib import Path

import pytest

from tests.conftest import PROJECT, Inbox, ingest_analyst_revision, invoke
from tracker import definitions
from tracker.deliver.messages import TEST_COPY, failure_notice

REPORT = "programmes-compared"

GG_REACHED = (
    "The target \u201cGlobal Gateway: mobilise up to EUR 300 bn by 2027\u201d is reached: "
    "> EUR 306 bn on 9 October 2025, more than 102.0 % of EUR 300 bn."
)
CONSTRUCTION = (
    "BRI construction contracts (value), BRI, World, rose 81.6 % to USD 128.4 bn (secondary "
    "source) in 2025, from USD 70.7 bn in 2024."
)
NEW_DEALS = (
    "- Value of new deals (BRI, World), 2024: USD 121.8 bn; +29.4 (+31.8\u00a0%) "
    "vs 2023 [4]\n"
    "  Sources differ by more than 5 %: USD 121.8 bn [4] (headline, primary) against "
    "USD 110 bn [7] (unspecified, 9.7 % apart).\n"
)
US_ONLY = (
    "- Infrastructure financing committed or mobilised (PGII, World, US only), 2024-06: "
    "> USD 60 bn [10] (secondary source)\n"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped definitions; the shipped briefing's key figures also
    show the financing figures (the PGII one counts the US only)."""
    home = tmp_path / "project"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox"))  # fmt: skip
    definition = home / "reports" / f"{REPORT}.toml"
    text = definition.read_text(encoding="utf-8")
    assert '    "partner_countries",\n]' in text
    definition.write_text(
        text.replace(
            '    "partner_countries",\n]', '    "partner_countries",\n    "financing",\n]'
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("TRACKER_HOME", str(home))
    return home


@pytest.fixture
def analyst_db(tracker_db: Path, tmp_path: Path, home: Path) -> Path:
    """The shipped data plus a second source of BRI deals 2024 (110 against the headline's
    121.8), registered from a CSV under a home directory."""
    ingest_analyst_revision(tracker_db, tmp_path)
    return tracker_db


def _use(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in inbox.environment().items():
        monkeypatch.setenv(key, value)


def _parts(message: EmailMessage) -> tuple[str, str]:
    """The plain text, and the HTML part as the text a reader sees (tags dropped)."""
    plain, page = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and page is not None
    markup = page.get_content()
    inline = re.sub(r"</?(em|strong|a)\b[^>]*>", "", markup)
    seen = unescape(re.sub(r"<[^>]+>", " ", inline))
    return plain.get_content().replace("\r\n", "\n"), " ".join(seen.split())


def _block(text: str, first: str, last: str) -> str:
    return text[text.index(first) : text.index(last)]


def test_the_issue_e_mail_opens_with_key_messages_then_the_note_then_cited_key_figures(
    analyst_db: Path, tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = tmp_path / "note.md"
    note.write_text("This issue adds *financing* to the key figures.\n", encoding="utf-8")
    published = invoke("brief", REPORT, "--publish", "--format", "pdf", "--note", note,
                       "--out", tmp_path / "out", db=analyst_db)  # fmt: skip
    assert published.exit_code == 0, published.output
    _use(smtp_server, monkeypatch)
    result = invoke("deliver", REPORT, "--to", "desk@example.org", db=analyst_db)
    assert result.exit_code == 0, result.output
    (message,) = smtp_server.messages
    text, page = _parts(message)

    assert text.index("Key messages\n") < text.index("Editor's note\n")
    assert text.index("Editor's note\n") < text.index("Key figures\n")
    assert f"Key messages\n- {GG_REACHED} [1][2]\n- {CONSTRUCTION} [3][4]\n" in text
    assert "Editor's note\nThis issue adds *financing* to the key figures.\n" in text
    assert NEW_DEALS in text  # the disagreement under the figure it concerns
    assert US_ONLY in text
    assert (
        "- BRI construction contracts (value) (BRI, World), 2025: USD 128.4 bn; +57.7 "
        "(+81.6\u00a0%) vs 2024 [3] (secondary source)\n" in text
    )
    # every marker points to a source listed in the e-mail, numbered as in the PDF
    sources = text[text.index("Sources (numbered as in the attached briefing)\n") :]
    assert (
        "[4] China BRI Investment Report 2024. Griffith Asia Institute. date not given. "
        "https://blogs.griffith.edu.au. primary\n" in sources
    )
    assert (
        "[7] IMF Article IV 2024 (test citation). publisher not given. date not given. "
        "no address recorded. unspecified\n" in sources
    )
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", text[: text.index("Sources (")])}
    listed = {int(n) for n in re.findall(r"^\[(\d+)\] ", sources, flags=re.M)}
    assert cited == listed == set(range(1, 11))

    # the HTML part says the same
    for sentence in (GG_REACHED + " [1][2]", CONSTRUCTION + " [3][4]"):
        assert sentence in page
    assert page.index("Key messages") < page.index("Editor's note") < page.index("Key figures")
    assert ("Sources differ by more than 5 %: USD 121.8 bn [4] (headline, primary) against "
            "USD 110 bn [7] (unspecified, 9.7 % apart).") in page  # fmt: skip
    assert "PGII, World, US only 2024-06 > USD 60 bn [10] secondary source" in page
    assert "[7] IMF Article IV 2024 (test citation). publisher not given." in page

    # no folder of the analyst's machine, in either part or anywhere in the message
    raw = message.as_string()
    for path in ("home/analyst", str(tmp_path)):
        assert path not in raw


def test_a_test_copy_carries_the_same_content_marked_as_a_test(
    analyst_db: Path, tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(smtp_server, monkeypatch)
    draft = invoke("brief", REPORT, "--format", "pdf", "--out", tmp_path / "out", db=analyst_db)
    assert draft.exit_code == 0, draft.output
    sent = invoke("deliver", REPORT, "--draft", "--to", "editor@example.org", db=analyst_db)
    assert sent.exit_code == 0, sent.output
    published = invoke("brief", REPORT, "--publish", "--format", "pdf", "--out",
                       tmp_path / "out", db=analyst_db)  # fmt: skip
    assert published.exit_code == 0, published.output
    assert invoke("deliver", REPORT, "--to", "desk@example.org", db=analyst_db).exit_code == 0
    test_copy, issue = smtp_server.messages
    test_text, test_page = _parts(test_copy)
    issue_text, issue_page = _parts(issue)

    assert test_copy["Subject"].startswith("[TEST] ")
    assert test_text.startswith(TEST_COPY + "\n\n")
    assert test_page.startswith(TEST_COPY)
    assert TEST_COPY not in issue_text + issue_page
    assert "Draft (not a published issue) of" in test_text
    # neither has an issue before it: key messages, key figures and sources read alike
    assert _block(test_text, "Key messages\n", "What changed\n") == _block(
        issue_text, "Key messages\n", "What changed\n"
    )
    assert NEW_DEALS in test_text and US_ONLY in test_text
    assert _block(test_text, "Sources (", "The full briefing") == _block(
        issue_text, "Sources (", "The full briefing"
    )
    assert "home/analyst" not in test_copy.as_string()


def test_without_the_briefings_manifest_the_e_mail_cites_no_number(
    analyst_db: Path, tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = invoke("brief", REPORT, "--publish", "--format", "pdf", "--out",
                       tmp_path / "out", db=analyst_db)  # fmt: skip
    assert published.exit_code == 0, published.output
    (manifest,) = (tmp_path / "out").rglob("manifest.json")
    manifest.unlink()
    _use(smtp_server, monkeypatch)
    assert invoke("deliver", REPORT, "--to", "desk@example.org", db=analyst_db).exit_code == 0
    text, page = _parts(smtp_server.messages[0])
    # a number that points to no listed source would mislead: none is written
    assert f"- {GG_REACHED}\n" in text
    assert (
        "  Sources differ by more than 5 %: USD 121.8 bn (headline, primary) against "
        "USD 110 bn (unspecified, 9.7 % apart).\n" in text
    )
    assert not re.search(r"\[\d+\]", text + page)
    assert "Sources (numbered" not in text


def test_the_failure_notice_names_the_outbox_inside_the_project_not_the_machines_path(
    home: Path,
) -> None:
    definition = definitions.load_briefing(home / "reports" / f"{REPORT}.toml",
                                           home / "templates")  # fmt: skip
    outbox = home / "reports" / "outbox" / f"{REPORT}.pdf"
    outbox.parent.mkdir(parents=True)
    outbox.write_bytes(b"%PDF-1.4\n")
    notice = failure_notice(definition, run_id=3, error="RuntimeError: boom", attempts_made=2,
                            sender="t@example.org", owner="o@example.org",
                            outbox=outbox)  # fmt: skip
    body = notice.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"The last good PDF is still reports/outbox/{REPORT}.pdf." in text
    assert str(home) not in text

"""Alerts (reports/alerts/*.toml) against a real loopback SMTP server (aiosmtpd): each kind
fires once for its event and never again, a dry run sends nothing, mail that is down
leaves the alert owed (the ingest still succeeds) and a later check sends it, and bad
definitions are refused naming file and key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import (
    PROJECT,
    Inbox,
    free_port,
    ingest_rows,
    invoke,
    runs_rows,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the shipped definitions and an empty reports/alerts/."""
    home = tmp_path / "home"
    for folder in ("indicators", "reports", "templates"):
        shutil.copytree(PROJECT / folder, home / folder,
                        ignore=shutil.ignore_patterns("out", "outbox", "drafts"))  # fmt: skip
    (home / "reports" / "alerts").mkdir(exist_ok=True)
    monkeypatch.setenv("TRACKER_HOME", str(home))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"TRACKER_SMTP_{name}", raising=False)
    monkeypatch.setenv("TRACKER_RUN_RETRIES", "0")
    return home


def _alert(home: Path, name: str, text: str) -> Path:
    path = home / "reports" / "alerts" / f"{name}.toml"
    path.write_text(text + '\nrecipients = ["desk@example.org"]\n', encoding="utf-8")
    return path


def _use(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in inbox.environment().items():
        monkeypatch.setenv(key, value)


def _bodies(inbox: Inbox) -> list[str]:
    return [str(m.get_content()) for m in inbox.messages]


def _sent(db: Path) -> list[tuple[object, ...]]:
    return runs_rows(db, "SELECT alert, status, tries FROM alerts_sent ORDER BY alert, event")


def test_a_target_reached_is_sent_once_with_its_qualified_figure_source_and_latest_issue(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"\ninitiatives = ["GG"]\n'
                              'briefing = "programmes-compared"')  # fmt: skip
    _use(smtp_server, monkeypatch)
    result = invoke("alerts", "check", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    body = _bodies(smtp_server)[0]
    assert message["To"] == "desk@example.org"
    assert str(message["Subject"]) == "Target reached (1 event, alert 'gg-target')"
    # the figure as stated, its qualifier, the share only against the GG EUR 300 bn target
    assert "> EUR 306 bn, more than 102.0 % of the target" in body
    assert "EUR 400 bn" not in body  # not reached: 76.5 %
    assert "Reports of the Global Gateway Forum 2025" in body
    assert "(secondary source)" in body
    assert "registered by" not in body and "/tmp" not in body.split("Latest issue")[0]
    assert "No issue of the briefing 'programmes-compared' has been published yet." in body
    assert _sent(tracker_db) == [("gg-target", "sent", 1)]

    # again, in process and in a new process (a restart): nothing more
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    again = subprocess.run(
        [sys.executable, "-m", "tracker", "--db", str(tracker_db), "alerts", "check"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "0 event(s) sent now, 1 sent before, 0 e-mail(s) owed." in again.stdout
    assert len(smtp_server.messages) == 1


def test_the_e_mail_points_to_the_latest_published_issue(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = home / "out"
    result = invoke("brief", "programmes-compared", "--publish", "--format", "html",
                    "--out", out, db=tracker_db)  # fmt: skip
    assert result.exit_code == 0, result.output
    _alert(home, "gg-target", 'kind = "target_reached"\nbriefing = "programmes-compared"')
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    body = _bodies(smtp_server)[0]
    line = next(x for x in body.splitlines() if x.startswith("Latest issue"))
    assert "issue 1 of" in line
    html = Path(line.rsplit(": ", 1)[1])
    assert html.suffix == ".html" and html.is_file()


def test_a_new_figure_is_sent_by_the_ingest_that_brings_it_and_never_again(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    _alert(home, "kaz-trade", 'kind = "new_figure"\nindicators = ["trade_central_asia"]\n'
                              'geographies = ["KAZ"]')  # fmt: skip
    _use(smtp_server, monkeypatch)
    # the first check sets the baseline: figures already loaded are not news
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert smtp_server.messages == []
    row = ["trade_central_asia", "BRI", "KAZ", "2025", "~48.2", "USD bn", "Test source", ""]
    ingest_rows(tracker_db, tmp_path, [row])  # the ingest checks the alerts itself
    other = ["trade_central_asia", "BRI", "UZB", "2025", "15", "USD bn", "Test source", ""]
    ingest_rows(tracker_db, tmp_path, [other])  # another geography: not this alert's
    assert len(smtp_server.messages) == 1
    body = _bodies(smtp_server)[0]
    assert "New figure" in body and "Kazakhstan" in body and "~USD 48.2 bn" in body
    assert "Source: Test source" in body
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    revised = ["trade_central_asia", "BRI", "KAZ", "2025", "49", "USD bn", "Test source", ""]
    ingest_rows(tracker_db, tmp_path, [revised])  # a revision is not a new figure
    assert len(smtp_server.messages) == 1


def test_a_revision_larger_than_the_threshold_is_sent_once_a_smaller_one_never(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    _alert(home, "revisions", 'kind = "revision"\nthreshold_percent = 5\n'
                              'indicators = ["trade_central_asia"]')  # fmt: skip
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    point = ["trade_central_asia", "BRI", "central-asia", "2024"]
    source = "seed-003-cgtn-central-asia"
    ingest_rows(tracker_db, tmp_path, [[*point, "96", "USD bn", source, ""]])  # +1.3 %
    assert smtp_server.messages == []
    ingest_rows(tracker_db, tmp_path, [[*point, "110", "USD bn", source, ""]])  # +14.6 %
    assert len(smtp_server.messages) == 1
    body = _bodies(smtp_server)[0]
    assert "Revised" in body and "USD 96 bn -> USD 110 bn (+14.6 %)" in body
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1
    assert _sent(tracker_db) == [("revisions", "sent", 1)]


def test_stale_indicators_are_sent_once_each(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "stale", 'kind = "stale"\nindicators = ["new_deals", "financing"]')
    _use(smtp_server, monkeypatch)
    dry = invoke("alerts", "check", "--dry-run", db=tracker_db)
    assert dry.exit_code == 0, dry.output
    assert smtp_server.messages == []
    # the shipped new deals end with 2025-H1; a semiannual indicator is stale 12 months after
    # its period ends (from 2026-06-30 on)
    assert "New deals signed" in dry.output, dry.output
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1
    body = _bodies(smtp_server)[0]
    assert "Past its freshness rule: New deals signed" in body and "176 deals" in body
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1


def test_a_dry_run_sends_and_records_nothing(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"')
    _use(smtp_server, monkeypatch)
    result = invoke("alerts", "check", "--dry-run", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "would send gg-target to desk@example.org: Target reached" in result.output
    assert "nothing was sent" in result.output
    assert smtp_server.messages == []
    assert _sent(tracker_db) == []
    assert runs_rows(tracker_db, "SELECT count(*) FROM alert_baselines") == [(0,)]


def test_mail_down_leaves_the_alert_owed_the_ingest_succeeds_and_a_later_check_sends_it(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    _alert(home, "new", 'kind = "new_figure"\nindicators = ["trade_central_asia"]')
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0  # baseline
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(free_port()))  # nothing listens there
    row = ["trade_central_asia", "BRI", "KAZ", "2025", "48.2", "USD bn", "Test source", ""]
    path = tmp_path / "new.csv"
    path.write_text("indicator,initiative,geography,period,value,unit,source,note\n"
                    + ",".join(row) + "\n", encoding="utf-8")  # fmt: skip
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "loaded 1 rows" in result.stdout
    assert "alert new: not sent to desk@example.org" in result.stderr
    assert "It stays owed" in result.stderr
    assert _sent(tracker_db) == [("new", "failed", 1)]
    failed = invoke("alerts", "check", db=tracker_db)
    assert failed.exit_code == 1
    assert _sent(tracker_db) == [("new", "failed", 2)]
    monkeypatch.setenv("TRACKER_SMTP_PORT", str(smtp_server.port))
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1 and "USD 48.2 bn" in _bodies(smtp_server)[0]
    assert _sent(tracker_db) == [("new", "sent", 3)]
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1


def test_without_smtp_settings_the_ingest_succeeds_and_says_the_alert_is_owed(
    home: Path, tracker_db: Path, tmp_path: Path
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"')
    path = tmp_path / "one.csv"
    path.write_text("indicator,initiative,geography,period,value,unit,source,note\n"
                    "trade_central_asia,BRI,KAZ,2025,48.2,USD bn,Test source,\n")  # fmt: skip
    result = invoke("ingest", path, db=tracker_db)
    assert result.exit_code == 0
    assert "TRACKER_SMTP_HOST is not set. It stays owed" in result.stderr


def test_an_alert_claimed_by_a_process_that_is_gone_is_sent_again(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"')
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    import duckdb

    runs = tracker_db.with_name("tracker.runs.duckdb")
    with duckdb.connect(str(runs)) as conn:  # as a process killed after the claim leaves it
        conn.execute("UPDATE alerts_sent SET status = 'sending', pid = ?",
                     [int(gone.stdout)])  # fmt: skip
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 2  # at-least-once: the outcome was unknown
    assert _sent(tracker_db) == [("gg-target", "sent", 2)]


def test_an_alert_claimed_on_another_host_is_sent_again_only_after_the_claim_bound(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"')
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    import duckdb

    runs = tracker_db.with_name("tracker.runs.duckdb")
    gone_here = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True)  # fmt: skip
    claimed = "UPDATE alerts_sent SET status = 'sending', pid = ?, host = 'host-a', updated_at = ?"
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(runs)) as conn:  # host-a claimed it 10 min ago: it may be sending
        conn.execute(claimed, [int(gone_here.stdout), now - timedelta(minutes=10)])
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 1
    with duckdb.connect(str(runs)) as conn:  # not heard of for 16 min: longer than the bound
        conn.execute(claimed, [int(gone_here.stdout), now - timedelta(minutes=16)])
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    assert len(smtp_server.messages) == 2  # at-least-once: the outcome was unknown
    assert _sent(tracker_db) == [("gg-target", "sent", 2)]


@pytest.mark.parametrize(
    ("text", "key", "found"),
    [
        ('kind = "threshold"\nrecipients = ["desk@example.org"]', "kind", "'threshold' is not"),
        ('kind = "revision"\nrecipients = ["desk@example.org"]', "(top level)",
         "'threshold_percent' is a required property"),
        ('kind = "new_figure"\nthreshold_percent = 5\nrecipients = ["desk@example.org"]',
         "threshold_percent", "only a revision alert takes it"),
        ('kind = "stale"\nrecipients = ["Desk <desk@example.org>"]', "recipients.0",
         "is not one e-mail address"),
        ('kind = "stale"\nrecipients = []', "recipients", "should be non-empty"),
        ('kind = "stale"\nindicators = ["trade_centra_asia"]\nrecipients = ["d@example.org"]',
         "indicators.0", "Did you mean 'trade_central_asia'"),
        ('kind = "stale"\nbriefing = "programmes"\nrecipients = ["d@example.org"]',
         "briefing", "expected the name of a briefing"),
        ('kind = "stale"\ntitle = "a\\nBcc: x@example.org"\nrecipients = ["d@example.org"]',
         "title", "a line break"),
        ('kind = "stale"\nevery = 3\nrecipients = ["d@example.org"]', "(top level)",
         "'every' was unexpected"),
    ],
)  # fmt: skip
def test_bad_definitions_are_refused_naming_file_and_key(
    home: Path, tracker_db: Path, text: str, key: str, found: str
) -> None:
    path = home / "reports" / "alerts" / "bad.toml"
    path.write_text(text + "\n", encoding="utf-8")
    for command in (["alerts", "check"], ["alerts", "list"], ["alerts", "check", "--dry-run"]):
        result = invoke(*command, db=tracker_db)
        assert result.exit_code == 2, result.output
        assert f"{path}: key '{key}'" in result.stderr
        assert found in result.stderr
        assert "Traceback" not in result.output


def test_alerts_list_shows_definitions_and_their_last_events(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alert(home, "gg-target", 'kind = "target_reached"')
    _alert(home, "revisions", 'kind = "revision"\nthreshold_percent = 2.5')
    before = invoke("alerts", "list", db=tracker_db)
    assert before.exit_code == 0, before.output
    assert "none yet" in before.stdout and "more than 2.5 %" in before.stdout
    _use(smtp_server, monkeypatch)
    assert invoke("alerts", "check", db=tracker_db).exit_code == 0
    after = invoke("alerts", "list", db=tracker_db)
    line = next(x for x in after.stdout.splitlines() if "gg-target" in x)
    assert "Target reached" in line and "UTC" in line


def test_the_scheduler_checks_alerts_in_once_and_sends_each_once(
    home: Path, tracker_db: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in (home / "reports").glob("*.toml"):
        path.unlink()  # no briefing to render: only the alerts
    _alert(home, "gg-target", 'kind = "target_reached"')
    _use(smtp_server, monkeypatch)
    for _ in range(2):
        result = invoke("schedule", "run", "--once", db=tracker_db)
        assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == 1
    assert _sent(tracker_db) == [("gg-target", "sent", 1)]

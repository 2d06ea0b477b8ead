"""Texts of a briefing definition that end up in an e-mail header (the title is the Subject,
recipients the To, the owner the To of a failure notice) are checked where the file is read:
one line without control characters, one e-mail address per entry; and a definition has at
most MAX_SECTIONS sections and MAX_CHARTS charts per section."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT, Inbox, invoke, runs_rows
from tracker import definitions
from tracker.definitions.briefings import MAX_CHARTS, MAX_SECTIONS
from tracker.errors import DefinitionError

TEMPLATES = PROJECT / "templates"
HEAD = 'audience = "A"\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n'
SECTION = '[[sections]]\nkind = "key_figures"\nindicators = ["financing"]\n'
SCHEDULE = '[schedule]\ncron = "0 7 1 * *"\ntimezone = "UTC"\n'


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "b.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        definitions.load_briefing(path, TEMPLATES)
    message = str(caught.value)
    assert message.startswith(f"{path}: key '"), message
    assert "\n" not in message and "\r" not in message  # the text is shown escaped
    return message


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ('title = """Monthly\nbriefing"""\n' + HEAD + SECTION, "title", "Monthly\\nbriefing"),
        ('title = "A\\r\\nBcc: x@example.org"\n' + HEAD + SECTION, "title", "A\\r\\nBcc"),
        ('title = "T\\u0007"\n' + HEAD + SECTION, "title", "T\\x07"),
        ('title = "T\\u2028U"\n' + HEAD + SECTION, "title", "T\\u2028U"),
        (
            'title = "T"\naudience = """For\nyou"""\ninitiatives = ["BRI"]\ngeographies = ["WLD"]\n'
            + SECTION,
            "audience",
            "For\\nyou",
        ),  # fmt: skip
        ('title = "T"\n' + HEAD + SECTION + 'title = "K\\tF"\n', "sections.0.title", "K\\tF"),
        (
            'title = "T"\n' + HEAD + '[[sections]]\nkind = "series"\n[[sections.charts]]\n'
            'indicator = "financing"\ntitle = "C\\u0000"\n',
            "sections.0.charts.0.title",
            "C\\x00",
        ),  # fmt: skip
    ],
)
def test_a_title_or_one_line_text_holding_a_control_character_is_refused(
    tmp_path: Path, text: str, key: str, shown: str
) -> None:
    message = _refusal(tmp_path, text)
    assert f"key '{key}': found '" in message and shown in message
    assert "one line of text without control characters" in message


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("x@y@z", "invalid characters"),
        ("a>, <b@example.org", "not one e-mail address"),
        ("a@example.org, b@example.org", "not one e-mail address"),
        ("Jane <a@example.org>", "display name"),
        ("Jane <a@example.org>, <b@example.org>", "not one e-mail address"),
        ("@example.org", "something before the @-sign"),
        ("desk@", "something after the @-sign"),
        ("desk@example", "should have a period"),
        ("desk@example.org\nBcc: x@example.org", "line break"),
        ("desk @example.org", "not one e-mail address"),
    ],
)
@pytest.mark.parametrize("where", ["recipient", "owner", "param recipient"])
def test_recipients_and_owners_are_one_e_mail_address_each(
    tmp_path: Path, entry: str, why: str, where: str
) -> None:
    quoted = entry.replace("\n", "\\n")
    good = '"desk@example.org"'
    recipients, owner, by_value = f'["{quoted}"]', good, f'["{quoted}"]'
    if where == "recipient":
        by_value = f"[{good}]"
    elif where == "owner":
        recipients, owner, by_value = f"[{good}]", f'"{quoted}"', f"[{good}]"
    else:
        recipients = f"[{good}]"
    text = (
        'title = "T"\n' + HEAD + SCHEDULE + f"recipients = {recipients}\nowner = {owner}\n"
        '[params.geography]\ndefault = "KAZ"\nvalues = ["KAZ"]\n'
        f"[params.geography.recipients]\nKAZ = {by_value}\n" + SECTION
    )
    message = _refusal(tmp_path, text)
    key = {"recipient": "schedule.recipients.0", "owner": "schedule.owner",
           "param recipient": "params.geography.recipients.KAZ.0"}[where]  # fmt: skip
    assert f"key '{key}': found '" in message
    assert why in message
    assert "Expected one address per entry" in message or "one line" in message


def test_plain_addresses_are_accepted_as_written(tmp_path: Path) -> None:
    addresses = ["desk@example.org", "first.last+briefing@sub.example.co.uk",
                 "ops-team@xn--mnchen-3ya.de", "rédaction@exämple.fr"]  # fmt: skip
    listed = ", ".join(f'"{a}"' for a in addresses)
    path = tmp_path / "b.toml"
    path.write_text('title = "T"\n' + HEAD + SCHEDULE + f"recipients = [{listed}]\n"
                    'owner = "owner@example.org"\n' + SECTION, encoding="utf-8")  # fmt: skip
    schedule = definitions.load_briefing(path, TEMPLATES).schedule
    assert schedule is not None
    assert schedule.recipients == tuple(addresses) and schedule.owner == "owner@example.org"


def test_sections_and_charts_are_limited_with_a_short_message(tmp_path: Path) -> None:
    charts = '[[sections.charts]]\nindicator = "financing"\n' * 10_000
    message = _refusal(tmp_path, 'title = "T"\n' + HEAD + '[[sections]]\nkind = "series"\n'
                       + charts)  # fmt: skip
    assert f"key 'sections.0.charts': found 10000 items, at most {MAX_CHARTS} are" in message
    assert len(message) < 300
    message = _refusal(tmp_path, 'title = "T"\n' + HEAD + SECTION * (MAX_SECTIONS + 1))
    assert f"key 'sections': found {MAX_SECTIONS + 1} items, at most {MAX_SECTIONS}" in message
    path = tmp_path / "b.toml"
    path.write_text('title = "T"\n' + HEAD + SECTION * (MAX_SECTIONS - 1) + '[[sections]]\n'
                    'kind = "series"\n' + charts[: len(charts) // 10_000 * MAX_CHARTS],
                    encoding="utf-8")  # fmt: skip
    loaded = definitions.load_briefing(path, TEMPLATES)
    assert len(loaded.sections) == MAX_SECTIONS + 1  # and the sources section added
    assert len(loaded.sections[-2].charts) == MAX_CHARTS


def test_a_definition_with_a_line_break_in_its_title_is_not_scheduled(
    tracker_db: Path, custom_home: Path
) -> None:
    shutil.copy(PROJECT / "reports" / "programmes-compared.toml", custom_home / "reports")
    text = (PROJECT / "reports" / "programmes-compared.toml").read_text(encoding="utf-8")
    broken = text.replace('title = "Infrastructure', 'title = """Line\nInfrastructure', 1)
    broken = broken.replace('Global Gateway"\naudience', 'Global Gateway"""\naudience', 1)
    assert broken != text
    (custom_home / "reports" / "broken.toml").write_text(broken, encoding="utf-8")
    result = invoke("schedule", "list", db=tracker_db)
    assert result.exit_code == 0, result.output
    assert "not scheduled: " in result.output
    assert "broken.toml: key 'title': found 'Line\\nInfrastructure" in result.output
    assert "programmes-compared" in result.output
    assert "broken " not in result.output and "│ broken" not in result.output


@pytest.mark.parametrize(
    "address",
    ["x@y@z", "a>, <b@example.org", "Jane <a@example.org>", "a@example.org\nBcc: b@x.org"],
)
def test_deliver_to_an_address_that_is_not_one_address_exits_2_and_sends_nothing(
    tracker_db: Path, custom_home: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch,
    address: str,
) -> None:  # fmt: skip
    shutil.copy(PROJECT / "reports" / "programmes-compared.toml", custom_home / "reports")
    for key, value in smtp_server.environment().items():
        monkeypatch.setenv(key, value)
    result = invoke("deliver", "programmes-compared", "--to", "ok@example.org", "--to", address,
                    db=tracker_db)  # fmt: skip
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert message.startswith("--to: found '") and "Traceback" not in result.output
    assert smtp_server.messages == [] and smtp_server.envelopes == []
    assert runs_rows(tracker_db, "SELECT count(*) FROM deliveries") in ([], [(0,)])
    assert not (custom_home / "reports" / "outbox").exists()

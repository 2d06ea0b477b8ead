"""The e-mails tracker sends: a briefing (plain text and HTML listing the key figures and what
changed since the previous issue, the editor's note when the run has one, the PDF attached; a
test copy of a draft says so in its subject) and the notice of a failed scheduled run.

Builds messages; sends nothing.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from tracker.models import BriefingDefinition
from tracker.text import amount, change, only, show


@dataclass(frozen=True)
class KeyFigureLine:
    """One line of the e-mail's key figures, its texts written by `tracker.text` as in the
    briefing."""

    name: str
    where: str
    period: str
    value: str
    change: str
    since_previous: str


def briefing_message(
    definition: BriefingDefinition,
    run: dict[str, Any],
    previous: dict[str, Any] | None,
    pdf: Path,
    recipients: Sequence[str],
    sender: str,
    *,
    test: bool = False,
) -> EmailMessage:
    """The briefing e-mail: plain text and HTML alternatives, the PDF attached. `test`: a
    test copy of a draft (the subject starts with '[TEST]')."""
    issue = run.get("issue") if run.get("published", True) else None
    day = run["briefing_date"]
    figures = key_figure_lines(run, previous)
    changed = [f for f in figures if f.since_previous]
    previous_issue = previous.get("issue") if previous else None
    data_as_of = run.get("data_as_of")
    stamp = f"{data_as_of:%Y-%m-%d %H:%M} UTC" if data_as_of else "no data"
    edition = f"Issue {issue}" if issue is not None else "Draft (not a published issue)"
    heading = f"{edition} of {day:%-d %B %Y}; data as of {stamp}."
    note = str(run.get("note") or "")
    if previous_issue is None:
        change_line = "This is the first issue."
    elif not changed:
        change_line = f"No key figure changed since issue {previous_issue}."
    else:
        change_line = f"{len(changed)} key figure(s) changed since issue {previous_issue}:"

    text = io.StringIO()
    text.write(f"{definition.title}\n{heading}\n\n")
    if note:
        text.write(f"Editor's note\n{note.strip()}\n\n")
    text.write("Key figures\n")
    for f in figures:
        text.write(f"- {f.name} ({f.where}), {f.period}: {f.value}{_then(f.change)}\n")
    if not figures:
        text.write("- none in this briefing\n")
    text.write(f"\nWhat changed\n{change_line}\n")
    for f in changed:
        text.write(f"- {f.name} ({f.where}): {f.since_previous}\n")
    text.write(f"\nThe full briefing is attached: {pdf.name} ({pdf.stat().st_size // 1024} KB).\n")

    e = html.escape
    rows = "".join(
        f"<tr><td>{e(f.name)}</td><td>{e(f.where)}</td><td>{e(f.period)}</td>"
        f'<td style="text-align:right">{e(f.value)}</td><td>{e(f.change)}</td></tr>'
        for f in figures
    )
    changes = "".join(
        f"<li>{e(f.name)} ({e(f.where)}): {e(f.since_previous)}</li>" for f in changed
    )
    page = (
        '<!doctype html><html><body style="font-family: sans-serif">'
        f'<h1 style="font-size:1.2em">{e(definition.title)}</h1><p>{e(heading)}</p>'
        f"{_note_html(note)}"
        '<h2 style="font-size:1em">Key figures</h2>'
        '<table cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>Indicator</th><th>Initiative, geography</th><th>Period</th><th>Value</th>"
        f"<th>Change</th></tr>{rows}</table>"
        f'<h2 style="font-size:1em">What changed</h2><p>{e(change_line)}</p>'
        f"{f'<ul>{changes}</ul>' if changes else ''}"
        f"<p>The full briefing is attached: {e(pdf.name)}.</p></body></html>"
    )

    subject = f"{definition.title}: " + (
        f"issue {issue}, {day:%-d %B %Y}" if issue is not None else f"draft of {day:%-d %B %Y}"
    )
    if test:
        subject = f"[TEST] {subject} (test copy, not an issue)"
    message = _addressed(subject, sender, ", ".join(recipients))
    message.set_content(text.getvalue())
    message.add_alternative(page, subtype="html")
    message.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf",
                           filename=pdf.name)  # fmt: skip
    return message


def failure_notice(
    definition: BriefingDefinition,
    *,
    run_id: int | None,
    error: str,
    attempts_made: int,
    sender: str,
    owner: str,
    outbox: Path,
) -> EmailMessage:
    """The owner's e-mail about a failed scheduled run: the error, and whether the last good
    PDF (`outbox`) is still there. `error` must already be free of the SMTP password."""
    message = _addressed(f"tracker: the briefing {definition.name} failed", sender, owner)
    kept = f"The last good PDF is still {outbox}." if outbox.exists() else "No PDF was sent."
    message.set_content(
        f"The scheduled run of '{definition.title}' ({definition.name}) failed after "
        f"{attempts_made} attempt(s).\n\nRun: {run_id if run_id is not None else 'not recorded'}"
        f"\nError: {error}\n\n{kept}\n"
        'The run history: tracker sql "select * from report_runs order by id desc limit 5"\n'
    )
    return message


def key_figure_lines(run: dict[str, Any], previous: dict[str, Any] | None) -> list[KeyFigureLine]:
    """The key figures a run recorded (`report_runs.key_figures`), each with what changed
    since `previous`. Rows recorded before the e-mail read them lack the name, unit and
    change: their lines show the ids and the bare number."""
    # a figure of one contributor (the US's part of PGII) is compared only with that
    # contributor's; rows recorded before migration 012 have none: the whole programme's
    before: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    for item in _recorded_figures(previous):
        key = (item["indicator"], item["initiative"], item["geography"], item.get("contributor"))
        before[key] = item
    lines = []
    for row in _recorded_figures(run):
        unit, noun = row.get("unit") or "", row.get("count_noun")
        value: float | None = row.get("value")
        shown = amount(value, unit, row.get("currency"), noun, row.get("qualifier"))
        old = before.get(
            (row["indicator"], row["initiative"], row["geography"], row.get("contributor"))
        )
        since = ""
        if old is not None and value is not None:
            was = amount(old.get("value"), unit, old.get("currency"), noun, old.get("qualifier"))
            if old.get("period") != row["period"]:
                since = f"new period {row['period']}: {shown} (was {old.get('period')}: {was})"
            elif (
                old.get("value") is not None and abs(float(old["value"]) - value) > 1e-9
            ) or old.get("qualifier") != row.get("qualifier"):
                since = f"revised {was} -> {shown}"
        elif old is None and previous is not None and value is not None:
            since = f"new: {row['period']} {shown}"
        delta, previous_period = row.get("change"), row.get("previous_period")
        lines.append(
            KeyFigureLine(
                name=row.get("indicator_name") or row["indicator"],
                where=", ".join(
                    filter(
                        None,
                        [
                            row["initiative"],
                            row.get("geography_name") or row["geography"],
                            only(row.get("contributor_name") or row.get("contributor")),
                        ],
                    )
                ),  # fmt: skip
                period=row["period"] or "-",
                value=shown,
                change=""
                if delta is None or not previous_period
                else change(delta, row.get("change_share"), previous_period),
                since_previous=since,
            )
        )
    return lines


def _recorded_figures(run: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The key figures recorded with `run` (JSON written by `briefing.build`); [] for none."""
    if not run or not run.get("key_figures"):
        return []
    figures: list[dict[str, Any]] = json.loads(str(run["key_figures"]))
    return figures


def _addressed(subject: str, sender: str, to: str) -> EmailMessage:
    """An empty message with its subject, sender, recipients, date and a Message-ID."""
    message = EmailMessage()
    # Definitions refuse line breaks in titles, but a variant's title takes a name from the
    # database: a header is one line, whatever the data holds.
    message["Subject"] = show(" ".join(subject.split()), 200)
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="tracker.invalid")
    return message


def _note_html(note: str) -> str:
    """The editor's note as the briefing shows it (Markdown, raw HTML off), or ''."""
    if not note:
        return ""
    from tracker.briefing import note_from_markdown

    return f'<h2 style="font-size:1em">Editor\'s note</h2>{note_from_markdown(note).html}'


def _then(text: str) -> str:
    return f"; {text}" if text else ""

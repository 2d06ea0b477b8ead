"""The e-mails tracker sends: a briefing (plain text and HTML listing the key figures and what
changed since the previous issue, the PDF attached) and the notice of a failed scheduled run.

Builds messages; sends nothing.
"""

from __future__ import annotations

import csv
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


@dataclass(frozen=True)
class KeyFigure:
    """One line of the e-mail's key figures."""

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
) -> EmailMessage:
    """The briefing e-mail: plain text and HTML alternatives, the PDF attached."""
    issue = run.get("issue")
    day = run["briefing_date"]
    figures = key_figures(run, previous)
    changed = [f for f in figures if f.since_previous]
    previous_issue = previous.get("issue") if previous else None
    data_as_of = run.get("data_as_of")
    stamp = f"{data_as_of:%Y-%m-%d %H:%M} UTC" if data_as_of else "no data"
    heading = f"Issue {issue} of {day:%-d %B %Y}; data as of {stamp}."
    if previous_issue is None:
        change_line = "This is the first issue."
    elif not changed:
        change_line = f"No key figure changed since issue {previous_issue}."
    else:
        change_line = f"{len(changed)} key figure(s) changed since issue {previous_issue}:"

    text = io.StringIO()
    text.write(f"{definition.title}\n{heading}\n\nKey figures\n")
    for f in figures:
        text.write(f"- {f.name} ({f.where}), {f.period}: {f.value}{_paren(f.change)}\n")
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
        '<h2 style="font-size:1em">Key figures</h2>'
        '<table cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>Indicator</th><th>Initiative, geography</th><th>Period</th><th>Value</th>"
        f"<th>Change</th></tr>{rows}</table>"
        f'<h2 style="font-size:1em">What changed</h2><p>{e(change_line)}</p>'
        f"{f'<ul>{changes}</ul>' if changes else ''}"
        f"<p>The full briefing is attached: {e(pdf.name)}.</p></body></html>"
    )

    message = _addressed(
        f"{definition.title}: issue {issue}, {day:%-d %B %Y}", sender, ", ".join(recipients)
    )
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


def key_figures(run: dict[str, Any], previous: dict[str, Any] | None) -> list[KeyFigure]:
    """The key figures of a run (from its CSV), each with what changed since `previous`."""
    rows = _key_figure_rows(run)
    before: dict[tuple[str, str, str], dict[str, Any]] = {}
    if previous and previous.get("key_figures"):
        for item in json.loads(str(previous["key_figures"])):
            before[(item["indicator"], item["initiative"], item["geography"])] = item
    figures = []
    for row in rows:
        unit = _unit(row.get("unit", ""), row.get("currency", ""))
        value = _number(row.get("value", ""))
        old = before.get((row["indicator"], row["initiative"], row["geography"]))
        since = ""
        if old is not None and value is not None:
            if old.get("period") != row["period"]:
                since = f"new period {row['period']}: {_shown(value)} {unit} " \
                        f"(was {old.get('period')}: {_shown(old.get('value'))})"  # fmt: skip
            elif old.get("value") is not None and abs(float(old["value"]) - value) > 1e-9:
                since = f"revised {_shown(old['value'])} -> {_shown(value)} {unit}"
        elif old is None and previous is not None and value is not None:
            since = f"new: {row['period']} {_shown(value)} {unit}"
        change = ""
        delta = _number(row.get("change", ""))
        if delta is not None and row.get("previous_period"):
            change = f"{delta:+,.4g} vs {row['previous_period']}"
        figures.append(
            KeyFigure(
                name=row.get("item") or row["indicator"],
                where=f"{row['initiative']}, {row['geography']}",
                period=row["period"] or "-",
                value="no data yet" if value is None else f"{_shown(value)} {unit}".strip(),
                change=change,
                since_previous=since,
            )
        )
    return figures


def _addressed(subject: str, sender: str, to: str) -> EmailMessage:
    """An empty message with its subject, sender, recipients, date and a Message-ID."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="tracker.invalid")
    return message


def _key_figure_rows(run: dict[str, Any]) -> list[dict[str, str]]:
    """The 'Key figures' rows of the run's CSV (written beside its PDF)."""
    outputs = json.loads(str(run.get("outputs") or "[]"))
    found = [Path(o["file"]) for o in outputs if str(o["file"]).endswith(".csv")]
    if not found or not found[0].is_file():
        return []
    with open(found[0], encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("section") == "Key figures"]


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


def _number(text: object) -> float | None:
    try:
        return float(str(text)) if text not in ("", None) else None
    except ValueError:
        return None


def _shown(value: object) -> str:
    number = _number(value)
    if number is None:
        return "-"
    return f"{number:,.0f}" if abs(number) >= 1e4 else f"{number:,.4g}"


def _unit(unit: str, currency: str) -> str:
    """'USD bn' with currency 'EUR' -> 'EUR bn'; other units as they are."""
    parts = unit.split(" ", 1)
    if currency and len(parts) == 2 and len(parts[0]) == 3 and parts[0].isupper():
        return f"{currency} {parts[1]}"
    return unit

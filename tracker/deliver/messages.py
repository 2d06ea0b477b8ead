"""The e-mails tracker sends: a briefing and the notice of a failed scheduled run.

The briefing e-mail (plain text and HTML) reads, in order: the issue's key messages as the
briefing prints them, the editor's note when the run has one, the key figures (each with
its source, its secondary tag and the sources-differ line), what changed since the previous
issue, the sources cited above numbered as in the attached PDF, and the PDF itself. A test
copy of a draft says so in its subject and on its first line.

Builds messages; sends nothing.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from tracker import settings
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
    # the headline source's footnote number(s) in the briefing; () for runs recorded before
    # the e-mail cited sources
    footnotes: tuple[int, ...] = ()
    secondary: bool = False  # the headline's source is secondary
    # another source of the point more than 5 % away, as the briefing writes it:
    # 'USD 121.8 bn [1] (headline, primary) against USD 110 bn [4] (unspecified, 9.7 % apart)'
    sources_differ: str = ""


@dataclass(frozen=True)
class KeyMessageLine:
    """One key message as the briefing prints it, with its sources' footnote numbers."""

    text: str
    footnotes: tuple[int, ...]


@dataclass(frozen=True)
class CitedSource:
    """One source the e-mail cites, numbered as in the briefing's sources list."""

    number: int
    id: str
    title: str
    publisher: str
    published: str  # ISO date, or 'date not given'
    url: str  # '' when none
    kind: str  # primary, secondary, synthetic, unspecified

    @property
    def text(self) -> str:
        """The entry as the briefing's sources list writes it, in one line."""
        address = self.url or "no address recorded"
        return f"{self.title}. {self.publisher}. {self.published}. {address}. {self.kind}"


SOURCES_DIFFER = "Sources differ by more than 5 %:"
TEST_COPY = "TEST COPY of a draft: not an issue, not sent to the recipients. Do not forward."


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
    test copy of a draft (the subject starts with '[TEST]', the body with TEST_COPY)."""
    issue = run.get("issue") if run.get("published", True) else None
    day = run["briefing_date"]
    # footnote numbers as in the attached PDF; a number whose source the manifest beside the
    # PDF does not list is dropped rather than left pointing at nothing
    sources = _briefing_sources(pdf)
    messages = key_message_lines(run, set(sources))
    figures = key_figure_lines(run, previous, {s.id: n for n, s in sources.items()})
    changed = [f for f in figures if f.since_previous]
    cited = sorted(
        {n for m in messages for n in m.footnotes}
        | {n for f in figures for n in f.footnotes}
        | {int(n) for f in figures for n in _MARKER.findall(f.sources_differ)}
    )
    listed = [sources[n] for n in cited]
    previous_issue = previous.get("issue") if previous else None
    data_as_of = run.get("data_as_of")
    stamp = f"{data_as_of:%Y-%m-%d %H:%M} UTC" if data_as_of else "no data"
    edition = f"Issue {issue}" if issue is not None else "Draft (not a published issue)"
    heading = f"{edition} of {day:%-d %B %Y}; data as of {stamp}."
    note = str(run.get("note") or "")
    if previous_issue is None:
        change_line = (
            "This is the first issue." if issue is not None else "No issue yet to compare with."
        )
    elif not changed:
        change_line = f"No key figure changed since issue {previous_issue}."
    else:
        change_line = f"{len(changed)} key figure(s) changed since issue {previous_issue}:"
    sources_line = "Sources (numbered as in the attached briefing)"

    text = io.StringIO()
    if test:
        text.write(f"{TEST_COPY}\n\n")
    text.write(f"{definition.title}\n{heading}\n\n")
    if messages:
        text.write("Key messages\n")
        for m in messages:
            text.write(f"- {m.text}{_markers(m.footnotes)}\n")
        text.write("\n")
    if note:
        text.write(f"Editor's note\n{note.strip()}\n\n")
    text.write("Key figures\n")
    for f in figures:
        text.write(
            f"- {f.name} ({f.where}), {f.period}: {f.value}{_then(f.change)}"
            f"{_markers(f.footnotes)}{' (secondary source)' if f.secondary else ''}\n"
        )
        if f.sources_differ:
            text.write(f"  {SOURCES_DIFFER} {f.sources_differ}.\n")
    if not figures:
        text.write("- none in this briefing\n")
    text.write(f"\nWhat changed\n{change_line}\n")
    for f in changed:
        text.write(f"- {f.name} ({f.where}): {f.since_previous}\n")
    if listed:
        text.write(f"\n{sources_line}\n")
        for source in listed:
            text.write(f"[{source.number}] {source.text}\n")
    text.write(f"\nThe full briefing is attached: {pdf.name} ({pdf.stat().st_size // 1024} KB).\n")

    e = html.escape
    rows = "".join(
        f"<tr><td>{e(f.name)}</td><td>{e(f.where)}</td><td>{e(f.period)}</td>"
        f'<td style="text-align:right;white-space:nowrap">{e(f.value)}</td><td>{e(f.change)}</td>'
        f"<td>{e(_markers(f.footnotes).strip())}"
        f"{' <em>secondary source</em>' if f.secondary else ''}</td></tr>"
        + (
            f'<tr><td></td><td colspan="5" style="font-size:0.9em">'
            f"{e(SOURCES_DIFFER)} {e(f.sources_differ)}.</td></tr>"
            if f.sources_differ
            else ""
        )
        for f in figures
    )
    changes = "".join(
        f"<li>{e(f.name)} ({e(f.where)}): {e(f.since_previous)}</li>" for f in changed
    )
    key_messages = "".join(f"<li>{e(m.text)}{e(_markers(m.footnotes))}</li>" for m in messages)
    cited_html = "".join(f"<li>[{s.number}] {_source_html(s)}</li>" for s in listed)
    page = (
        '<!doctype html><html><body style="font-family: sans-serif">'
        + (f'<p style="color:#a00"><strong>{e(TEST_COPY)}</strong></p>' if test else "")
        + f'<h1 style="font-size:1.2em">{e(definition.title)}</h1><p>{e(heading)}</p>'
        + (
            f'<h2 style="font-size:1em">Key messages</h2><ul>{key_messages}</ul>'
            if messages
            else ""
        )
        + f"{_note_html(note)}"
        '<h2 style="font-size:1em">Key figures</h2>'
        '<table cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>Indicator</th><th>Initiative, geography</th><th>Period</th><th>Value</th>"
        f"<th>Change</th><th>Source</th></tr>{rows}</table>"
        f'<h2 style="font-size:1em">What changed</h2><p>{e(change_line)}</p>'
        f"{f'<ul>{changes}</ul>' if changes else ''}"
        + (
            f'<h2 style="font-size:1em">{e(sources_line)}</h2>'
            f'<ul style="list-style:none;padding-left:0">{cited_html}</ul>'
            if listed
            else ""
        )
        + f"<p>The full briefing is attached: {e(pdf.name)}.</p></body></html>"
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
    kept = "No PDF was sent."
    if outbox.exists():
        kept = f"The last good PDF is still {_in_project(outbox)}."
    message.set_content(
        f"The scheduled run of '{definition.title}' ({definition.name}) failed after "
        f"{attempts_made} attempt(s).\n\nRun: {run_id if run_id is not None else 'not recorded'}"
        f"\nError: {error}\n\n{kept}\n"
        'The run history: tracker sql "select * from report_runs order by id desc limit 5"\n'
    )
    return message


def key_figure_lines(
    run: dict[str, Any],
    previous: dict[str, Any] | None,
    numbers: Mapping[str, int] | None = None,
) -> list[KeyFigureLine]:
    """The key figures a run recorded (`report_runs.key_figures`), each with what changed
    since `previous`. Rows recorded before the e-mail read them lack the name, unit and
    change: their lines show the ids and the bare number.

    `numbers`: the briefing's footnote number of each source id (its manifest); a figure's
    source, and the sources-differ line's markers, are cited only by the numbers given."""
    known = dict(numbers or {})
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
                footnotes=(known[row["source"]],) if row.get("source") in known else (),
                secondary=row.get("source_kind") == "secondary",
                sources_differ=_only_markers(row.get("sources_differ") or "", known.values()),
            )
        )
    return lines


def key_message_lines(run: dict[str, Any], numbers: Collection[int]) -> list[KeyMessageLine]:
    """The key messages a run recorded (`report_runs.key_messages`), in the briefing's order,
    each cited by those of its footnote numbers that are in `numbers`; [] for none."""
    try:
        recorded = json.loads(str(run.get("key_messages") or "[]"))
    except ValueError:
        return []
    return [
        KeyMessageLine(str(m["text"]), tuple(n for n in m.get("footnotes") or () if n in numbers))
        for m in recorded
        if isinstance(m, dict) and m.get("text")
    ]


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


# A footnote marker as the briefing writes it inside a text: ' [4]'.
_MARKER = re.compile(r"\[(\d+)\]")


def _only_markers(text: str, numbers: Collection[int]) -> str:
    """`text` without the footnote markers whose number is not in `numbers`."""
    kept = set(numbers)
    return _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in kept else "", text).replace(
        "  ", " "
    )


def _markers(numbers: Sequence[int]) -> str:
    """' [1][2]', or '' for none."""
    return " " + "".join(f"[{n}]" for n in numbers) if numbers else ""


def _briefing_sources(pdf: Path) -> dict[int, CitedSource]:
    """The briefing's numbered sources, from the manifest.json beside `pdf` ({} when it is
    gone or unreadable: the e-mail then cites no number)."""
    try:
        manifest = json.loads((pdf.parent / "manifest.json").read_text(encoding="utf-8"))
        entries = manifest["sources"] if isinstance(manifest, dict) else []
        return {
            int(e["number"]): CitedSource(
                int(e["number"]),
                str(e["id"]),
                str(e.get("title") or e["id"]),
                str(e.get("publisher") or "publisher not given"),
                str(e.get("published") or "date not given"),
                str(e.get("url") or ""),
                str(e.get("kind") or "unspecified"),
            )  # fmt: skip
            for e in entries
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _source_html(source: CitedSource) -> str:
    """A cited source in HTML; its address a link only when it is http(s)."""
    from tracker.briefing.wording import safe_href

    e = html.escape
    href = safe_href(source.url)
    address = (
        f'<a href="{e(href)}">{e(source.url)}</a>'
        if href
        else e(source.url or "no address recorded")
    )
    return (
        f"<em>{e(source.title)}</em>. {e(source.publisher)}. {e(source.published)}. "
        f"{address}. {e(source.kind)}"
    )


def _in_project(path: Path) -> str:
    """`path` relative to the project folder ('reports/outbox/x.pdf'), else its name: no
    folder of the analyst's machine goes into an e-mail."""
    try:
        return path.resolve().relative_to(settings.home()).as_posix()
    except ValueError:
        return path.name


def _then(text: str) -> str:
    return f"; {text}" if text else ""

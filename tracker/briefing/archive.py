"""The archive page: `<out>/index.html` (default `reports/out/index.html`), one offline HTML page
listing every published issue of every briefing whose files lie under that folder: date, issue
number, the key messages (or, for issues without them, the key figures) and relative links to
the PDF and HTML. Drafts are never listed.

It is rewritten from the run history after each publish, atomically (tracker.files), so a
reader sees the old page or the new one. Titles and key messages come from each issue's
manifest.json (written with the issue); key figures from its run record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from tracker import store
from tracker.files import write_atomically
from tracker.location import StoreLocation
from tracker.text import amount

ARCHIVE = "index.html"
TEMPLATE = "archive.html"


@dataclass(frozen=True)
class ArchiveLink:
    """A link to one file of an issue, relative to the archive page."""

    label: str  # 'PDF', 'HTML'
    href: str


@dataclass(frozen=True)
class ArchiveIssue:
    """One published issue as the archive lists it."""

    issue: int
    date: str  # '1 May 2026'
    date_iso: str
    variant: str  # 'geography=KAZ', or '' for a briefing without parameters
    title: str
    key_messages: tuple[str, ...]
    key_figures: tuple[str, ...]  # shown when the issue has no key messages
    links: tuple[ArchiveLink, ...]


@dataclass(frozen=True)
class ArchiveBriefing:
    """A briefing and its published issues, newest first."""

    briefing_name: str
    title: str
    issues: tuple[ArchiveIssue, ...]


@dataclass(frozen=True)
class ArchiveContext:
    """Everything the archive template shows."""

    generated_at: str
    briefings: tuple[ArchiveBriefing, ...]
    issue_count: int


def build_archive(db: StoreLocation, root: Path, generated_at: datetime) -> ArchiveContext:
    """The archive of the issues published under `root`, read from the run history of `db`."""
    with store.read_run_history(db) as runs:
        rows = store.published_issues(runs).iter_rows(named=True)
        issues = [(row["report"], row) for row in rows]
    base = root.resolve()
    grouped: dict[str, list[ArchiveIssue]] = {}
    titles: dict[str, str] = {}
    for briefing_name, row in issues:
        folder = Path(str(row["output_dir"] or "")).resolve()
        if not row["output_dir"] or not folder.is_relative_to(base):
            continue  # published under another --out folder: its own archive lists it
        manifest = _manifest(folder)
        title = str(manifest.get("title") or briefing_name)
        titles.setdefault(briefing_name, title)  # the newest issue's title names the briefing
        grouped.setdefault(briefing_name, []).append(_issue(row, manifest, title, base))
    briefings = tuple(
        ArchiveBriefing(name, _briefing_title(titles[name], grouped[name]), tuple(grouped[name]))
        for name in sorted(grouped, key=lambda r: (titles[r].lower(), r))
    )  # fmt: skip
    return ArchiveContext(
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        briefings=briefings,
        issue_count=sum(len(b.issues) for b in briefings),
    )


def write_archive(
    db: StoreLocation, root: Path, environment: jinja2.Environment, generated_at: datetime
) -> Path:
    """Rewrite `<root>/index.html` atomically from the run history; returns its path."""
    context = build_archive(db, root, generated_at)
    page = environment.get_template(TEMPLATE).render(a=context)
    root.mkdir(parents=True, exist_ok=True)
    target = root / ARCHIVE
    write_atomically(target, [page.encode("utf-8")])
    return target


def _issue(row: dict[str, Any], manifest: dict[str, Any], title: str, base: Path) -> ArchiveIssue:
    params = json.loads(str(row["params"])) if row["params"] else {}
    day = row["briefing_date"]
    return ArchiveIssue(
        issue=int(row["issue"]),
        date=f"{day:%-d %B %Y}",
        date_iso=day.isoformat(),
        variant=", ".join(f"{name}={value}" for name, value in sorted(params.items())),
        title=title,
        key_messages=tuple(_message_text(m) for m in manifest.get("key_messages") or ()),
        key_figures=_key_figures(row["key_figures"]),
        links=_links(row["outputs"], base),
    )


def _briefing_title(newest: str, issues: list[ArchiveIssue]) -> str:
    """The briefing's heading: its title, or for variants (whose titles name the value, e.g.
    'Profile: Kazakhstan') the briefing's name with the titles in each row."""
    return newest if len({i.title for i in issues}) == 1 else newest.split(":")[0]


def _manifest(folder: Path) -> dict[str, Any]:
    """The issue's manifest.json ({} when it is gone or unreadable: the row stays listed)."""
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key_figures(recorded: str | None) -> tuple[str, ...]:
    """The key figures a run recorded, one line each, written by tracker.text."""
    try:
        figures = json.loads(recorded or "[]")
    except ValueError:
        return ()
    lines = []
    for f in figures:
        where = ", ".join(filter(None, [f.get("initiative"), f.get("geography_name")
                                        or f.get("geography")]))  # fmt: skip
        shown = amount(f.get("value"), f.get("unit") or "", f.get("currency"),
                       f.get("count_noun"), f.get("qualifier"))  # fmt: skip
        name = f.get("indicator_name") or f.get("indicator")
        lines.append(f"{name} ({where}), {f.get('period')}: {shown}")
    return tuple(lines)


def _links(outputs: str | None, base: Path) -> tuple[ArchiveLink, ...]:
    """Relative links to the issue's PDF and HTML, for the files still in place."""
    try:
        files = [Path(str(o["file"])) for o in json.loads(outputs or "[]")]
    except (ValueError, KeyError, TypeError):
        return ()
    links = []
    for suffix, label in ((".pdf", "PDF"), (".html", "HTML")):
        for path in files:
            resolved = path.resolve()
            if path.suffix == suffix and resolved.is_file() and resolved.is_relative_to(base):
                links.append(ArchiveLink(label, quote(resolved.relative_to(base).as_posix())))
    return tuple(links)


def _message_text(message: object) -> str:
    """A key message of a manifest as the archive lists it: its sentence (a manifest holds
    each message as an object with its `text`, kind and footnotes)."""
    if isinstance(message, dict):
        return str(message.get("text", ""))
    return str(message)

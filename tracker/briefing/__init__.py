"""The store -> briefings: queries, context, charts, render (HTML, PDF, CSV), variants."""

from tracker.briefing.data import read_briefing
from tracker.briefing.note import EditorNote, note_from_markdown, read_note
from tracker.briefing.render import (
    list_briefings,
    parse_as_of,
    render_briefings,
    render_html,
    render_pdf,
    rewrite_archive,
    templates_only_fetcher,
)
from tracker.briefing.variant_pool import render_variants
from tracker.briefing.variants import ScheduledVariant, resolve, scheduled_variants

__all__ = [
    "read_briefing",
    "EditorNote",
    "note_from_markdown",
    "read_note",
    "rewrite_archive",
    "list_briefings",
    "parse_as_of",
    "render_briefings",
    "render_html",
    "render_pdf",
    "templates_only_fetcher",
    "render_variants",
    "ScheduledVariant",
    "resolve",
    "scheduled_variants",
]

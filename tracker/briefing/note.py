"""The editor's note of a briefing (`tracker brief --note FILE.md`): Markdown read from a
file and rendered by markdown-it-py with raw HTML off, so the note can only be text, emphasis,
lists, headings, quotes, code and links.

- Raw HTML in the note is shown as text (`<b>` prints as `<b>`), never interpreted.
- Links become links only for `http:`, `https:` and `mailto:` URLs; any other link (a
  `javascript:`, `file:` or relative one) stays as its Markdown text. Nothing is fetched.
- Images are never shown or fetched: an image prints as its alt text, `[image: alt]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from tracker.errors import InputError

# A note is a paragraph or a few; this bounds what a mistaken file (a PDF, a log) can do.
MAX_NOTE_BYTES = 64 * 1024
LINK_SCHEMES = ("http:", "https:", "mailto:")


@dataclass(frozen=True)
class EditorNote:
    """An editor's note: its Markdown (kept with the run) and the HTML the briefing shows."""

    markdown: str
    html: Markup


def read_note(path: Path) -> EditorNote:
    """The note in `path` (UTF-8 Markdown, at most 64 KB); InputError naming the file when it
    is missing, not a regular file, too large, not UTF-8 or empty."""
    where = f"--note {path}"
    if not path.exists():
        raise InputError(f"{where}: no such file; give a Markdown file (.md) of the note.")
    if not path.is_file():
        raise InputError(f"{where}: not a regular file; give a Markdown file (.md) of the note.")
    data = path.read_bytes()
    if len(data) > MAX_NOTE_BYTES:
        raise InputError(
            f"{where}: {len(data):,} bytes; an editor's note may be at most "
            f"{MAX_NOTE_BYTES // 1024} KB of Markdown."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"{where}:{line}: found byte 0x{data[error.start]:02x}, which is not UTF-8; save "
            "the note as UTF-8 Markdown."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"{where}:{line}: found a NUL byte; a note is Markdown text.")
    if not text.strip():
        raise InputError(f"{where}: the file is empty; write the note, or leave --note out.")
    return note_from_markdown(text)


def note_from_markdown(text: str) -> EditorNote:
    """The note of Markdown `text` (as stored with a run)."""
    return EditorNote(text, Markup(_markdown().render(text)))  # noqa: S704 - html is off


@cache
def _markdown() -> Any:
    """One markdown-it-py parser: CommonMark, raw HTML off, links limited, images as text."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False})
    parser.validateLink = _allowed_link  # type: ignore[method-assign] # markdown-it's hook
    parser.add_render_rule("image", _image_as_text)
    return parser


def _allowed_link(url: str) -> bool:
    return url.strip().lower().startswith(LINK_SCHEMES)


def _image_as_text(self: Any, tokens: Sequence[Any], index: int, options: Any, env: Any) -> str:
    """An image of the note, printed as `[image: alt]` and never fetched."""
    token = tokens[index]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return str(Markup('<span class="note-image">[image: {}]</span>').format(escape(alt)))

"""An article file (.txt, .md, .html) -> its plain-text blocks, each with the line it starts
on, and the title and date it prints, if any; or why it cannot be read.

Markdown is read by markdown-it-py with HTML off (raw HTML stays text, never markup); HTML by
the standard library's parser, scripts, styles and other non-text elements left out, nothing
fetched. A block is a paragraph, heading, list item or table cell: sentences never run
across two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

from tracker.errors import InputError

MAX_BYTES = 20_000_000  # an article, not a corpus: larger files are refused unread
TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# Elements whose content is never article text.
_SKIPPED = {"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "object"}
# Elements that end a block of text (a sentence never runs across them).
_BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr",
    "table", "section", "article", "header", "footer", "aside", "blockquote", "figcaption",
    "figure", "pre", "dd", "dt", "hr", "main", "title",
}  # fmt: skip
_SPACE = re.compile(r"[\s\u00a0\u202f\u2009\u200b]+")
# A line that is only a date (`Jul 14, 2025`, `14 July 2025 - 13:00`, `2025-07-14`), as a
# byline prints the day an article was published.
_DATE_LINE = re.compile(r"^[A-Za-z0-9 ,./-]{6,40}?(?:\s*[-–|]\s*\d{1,2}:\d{2}(?::\d{2})?)?$")
_TIME_TAIL = re.compile(r"\s*[-–|,]?\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?$")
DATE_LINES_LOOKED_AT = 12  # a byline date is near the top; later dates are the story's


@dataclass(frozen=True)
class Block:
    """A paragraph of plain text and the line of the file it starts on."""

    text: str
    line: int


@dataclass
class Article:
    """What a file holds: its blocks, and the title and published date it prints (each with
    where it was found, so the command can say so)."""

    path: Path
    blocks: list[Block]
    title: str | None = None
    title_found: str = ""
    published: date | None = None
    published_found: str = ""


def read_article(path: Path) -> Article:
    """Read an article file; InputError (one paragraph naming the file) when it cannot be."""
    if not path.exists():
        raise InputError(f"{path}: no such file; give the path of a .txt, .md or .html article.")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a .txt, .md or .html article.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise InputError(
            f"{path}: {size:,} bytes, more than an article ({MAX_BYTES:,} at most); nothing "
            "was read."
        )
    raw = path.read_bytes()
    if b"\x00" in raw:
        where = raw.index(b"\x00")
        raise InputError(
            f"{path}: a binary file (it holds NUL bytes, the first at byte {where}), not an "
            "article; expected UTF-8 text, Markdown or HTML (.txt, .md, .html). Save a PDF or "
            "a word-processor file as text first."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: byte {error.start} is not UTF-8 "
            f"({raw[error.start : error.start + 1]!r}); "
            "expected UTF-8 text, Markdown or HTML (.txt, .md, .html). Save the article as "
            "UTF-8 first."
        ) from None
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        article = _html(path, text)
    elif suffix in MARKDOWN_SUFFIXES:
        article = _markdown(path, text)
    else:
        article = Article(path, _text_blocks(text))
        _title_from_first_block(article)
    if not any(block.text for block in article.blocks):
        markup = "" if suffix in TEXT_SUFFIXES else " outside markup"
        raise InputError(f"{path}: the article is empty (no text{markup}); nothing to extract.")
    if article.published is None:
        _published_from_byline(article)
    return article


def clean(text: str) -> str:
    """Runs of white space (no-break and thin spaces included) as one space, trimmed."""
    return _SPACE.sub(" ", text).strip()


def parse_date(text: str) -> date | None:
    """A date written as articles print it (`2025-07-14`, `Jul 14, 2025`, `14 July 2025`,
    `Monday, 14 July 2025 - 13:00`); None when it is not one whole date, or when it is
    `05/06/2025`-style digits whose day and month could be swapped."""
    cleaned = _TIME_TAIL.sub("", clean(text))
    if not cleaned or len(cleaned) > 40:
        return None
    digits = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})", cleaned)
    if digits and int(digits[1]) <= 12 and int(digits[2]) <= 12 and digits[1] != digits[2]:
        return None  # 05/06/2025: 5 June or May 6 -- never guessed
    import dateparser

    settings = {
        "STRICT_PARSING": True,
        "REQUIRE_PARTS": ["day", "month", "year"],
        # Only dates written out: 'yesterday' or '3 days ago' would be read against today.
        "PARSERS": ["custom-formats", "absolute-time"],
    }
    found = dateparser.parse(cleaned, languages=["en"], settings=settings)
    return found.date() if found is not None else None


def _text_blocks(text: str) -> list[Block]:
    """Plain text: each non-empty line a block (articles pasted as text keep one paragraph a
    line; a paragraph wrapped over lines is joined when a line does not end a sentence)."""
    blocks: list[Block] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = clean(line)
        if not stripped:
            if pending:
                blocks.append(Block(" ".join(pending), start))
                pending = []
            continue
        if not pending:
            start = number
        pending.append(stripped)
        if re.search(r"[.!?:;”\"')\]]$", stripped) or len(stripped) < 60:
            blocks.append(Block(" ".join(pending), start))
            pending = []
    if pending:
        blocks.append(Block(" ".join(pending), start))
    return blocks


def _title_from_first_block(article: Article) -> None:
    """A text article's title: its first line, when it reads as a headline (short, no final
    full stop)."""
    if article.blocks:
        first = article.blocks[0]
        if len(first.text) <= 160 and not first.text.endswith((".", "?", "!")):
            article.title, article.title_found = first.text, f"line {first.line}"


def _published_from_byline(article: Article) -> None:
    for block in article.blocks[:DATE_LINES_LOOKED_AT]:
        if _DATE_LINE.match(block.text) and (day := parse_date(block.text)) is not None:
            article.published, article.published_found = day, f"line {block.line}"
            return


def _markdown(path: Path, text: str) -> Article:
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    blocks: list[Block] = []
    title = None
    title_found = ""
    heading = False
    for token in parser.parse(text):
        if token.type == "heading_open":
            heading = True
        elif token.type == "heading_close":
            heading = False
        if token.type not in ("inline", "code_block", "fence"):
            continue
        line = (token.map[0] + 1) if token.map else 1
        if token.type == "inline":
            parts = []
            for child in token.children or []:
                if child.type in ("text", "code_inline", "html_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append(" ")
            content = clean("".join(parts))
        else:
            content = clean(token.content)
        if not content:
            continue
        if heading and title is None:
            title, title_found = content, f"the first heading, line {line}"
        blocks.append(Block(content, line))
    article = Article(path, blocks, title, title_found)
    if title is None:
        _title_from_first_block(article)
    return article


class _HtmlText(HTMLParser):
    """Collects the text of an HTML page in blocks, with the title and published date its
    markup states (`<title>`, `<h1>`, `<meta property="article:published_time">`,
    `<time datetime>`)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.parts: list[str] = []
        self.start = 1
        self.skipping: list[str] = []
        self.title: str | None = None
        self.h1: str | None = None
        self.in_title = False
        self.in_h1 = False
        self.title_parts: list[str] = []
        self.published: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "meta":
            prop = (values.get("property") or values.get("name") or "").lower()
            if prop in ("article:published_time", "date", "dc.date", "pubdate", "publish-date"):
                self.published.append((values.get("content", ""), self.getpos()[0]))
        if tag == "time" and values.get("datetime"):
            self.published.append((values["datetime"], self.getpos()[0]))
        if tag == "title":
            self.in_title, self.title_parts = True, []
            return
        if tag in _SKIPPED:
            self.skipping.append(tag)
            return
        if tag in _BLOCKS:
            self._flush()
        if tag == "h1" and self.h1 is None:
            self.in_h1, self.title_parts = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.in_title:
            self.in_title = False
            self.title = clean("".join(self.title_parts)) or None
            return
        if self.skipping and tag == self.skipping[-1]:
            self.skipping.pop()
            return
        if tag == "h1" and self.in_h1:
            self.in_h1 = False
            self.h1 = clean("".join(self.title_parts)) or None
        if tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.in_title or self.in_h1:
            self.title_parts.append(data)
        if self.skipping or self.in_title:
            return
        if not self.parts:
            self.start = self.getpos()[0]
        self.parts.append(data)

    def _flush(self) -> None:
        text = clean("".join(self.parts))
        if text:
            self.blocks.append(Block(text, self.start))
        self.parts = []

    def close(self) -> None:
        super().close()
        self._flush()


def _html(path: Path, text: str) -> Article:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    article = Article(path, parser.blocks)
    if parser.h1:
        article.title, article.title_found = parser.h1, "its <h1>"
    elif parser.title:
        article.title, article.title_found = parser.title, "its <title>"
    for value, line in parser.published:
        day = parse_date(value[:10]) if re.match(r"\d{4}-\d{2}-\d{2}", value) else None
        day = day or parse_date(value)
        if day is not None:
            article.published, article.published_found = day, f"its markup, line {line}"
            break
    return article

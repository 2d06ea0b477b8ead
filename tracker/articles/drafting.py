"""One article -> its extraction and the draft CSV text: the source cell, the segmenter and
the extractor put together."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from tracker.articles.proposing import DRAFT_COLUMNS, Extraction, Extractor
from tracker.articles.reading import Article
from tracker.ingest.geographies import GeographyResolver
from tracker.ingest.state import citation_key
from tracker.models import Catalog, Indicator


def extract_article(
    article: Article,
    indicators: Sequence[Indicator],
    catalog: Catalog,
    sponsors: dict[str, str],
    source: str,
) -> Extraction:
    """The figures `article` states that fit `indicators`, as proposals (see `proposing`)."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    extractor = Extractor(
        indicators=indicators,
        resolver=GeographyResolver(catalog),
        sponsors=sponsors,
        published=article.published,
        source=source,
        segment=lambda text: [str(s) for s in segmenter.segment(text)],
    )
    return extractor.extract(article)


def source_cell(
    catalog: Catalog, title: str | None, url: str | None, published: date | None, fallback: str
) -> tuple[str, str | None]:
    """The source cell of every row, and the known source it names (None: a new citation).

    A title or URL a registered source has (ignoring case, spaces and quote styles, as
    ingest compares them) is that source's id; otherwise a citation `title, published
    DATE, URL` that `tracker ingest` registers as a new source."""
    known = {citation_key(t): i for t, i in catalog.source_titles.items()}
    known |= {citation_key(u): i for u, i in catalog.source_urls.items()}
    for text in (title, url):
        if text and citation_key(text) in known:
            return known[citation_key(text)], known[citation_key(text)]
    parts = [title or fallback]
    if published is not None:
        parts.append(f"published {published.isoformat()}")
    if url:
        parts.append(url)
    return ", ".join(parts), None


def draft_csv(extraction: Extraction) -> str:
    """The draft: the long format's columns, then `confidence` and `review`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DRAFT_COLUMNS)
    for proposal in extraction.proposals:
        writer.writerow(proposal.cells())
    return buffer.getvalue()

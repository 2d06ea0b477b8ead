"""Articles (.txt, .md, .html) -> draft CSVs of the figures they state, for an analyst to review."""

from tracker.articles.drafting import draft_csv, extract_article
from tracker.articles.proposing import DRAFT_COLUMNS, Extraction, Passed, Proposal
from tracker.articles.reading import Article, parse_date, read_article

__all__ = [
    "DRAFT_COLUMNS",
    "Article",
    "Extraction",
    "Passed",
    "Proposal",
    "draft_csv",
    "extract_article",
    "parse_date",
    "read_article",
]

"""`tracker extract`: an article -> a draft CSV of the figures it states, for review. It
writes a file and never loads anything; the analyst deletes what is not wanted, then runs
`tracker ingest` on it.

The articles and ingest packages (and pysbd, dateparser, markdown-it-py) are imported inside
the command.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tracker import settings
from tracker.cli.shared import Force, OutputFile, db_path, err, refuse_to_overwrite, reported
from tracker.errors import InputError
from tracker.text import show


def extract(
    ctx: typer.Context,
    article_file: Annotated[
        Path, typer.Argument(metavar="ARTICLE", help="The article: .txt, .md or .html.")
    ],
    published: Annotated[
        str | None,
        typer.Option(
            help="The article's date (2025-07-14, 'Jul 14, 2025') \\[default: the date it "
            "prints near its top, if any]; 'this year' and undated figures are read against it."
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="The article's title \\[default: its headline, if any].")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Where the article was published.")] = None,
    output: OutputFile = None,
    force: Force = False,
) -> None:
    """Propose the figures an article states, as a draft CSV to review, then `tracker ingest`."""
    from tracker import files, store
    from tracker.articles import draft_csv, extract_article, parse_date, read_article
    from tracker.articles.drafting import source_cell
    from tracker.definitions import load_indicators

    path = db_path(ctx)
    with reported():
        refuse_to_overwrite(output, force)
        day: date | None = None
        if published is not None:
            day = parse_date(published)
            if day is None:
                raise InputError(
                    f"--published: found '{show(published)}', not a date; expected a day such "
                    "as 2025-07-14, 14 July 2025 or Jul 14, 2025 (digits like 05/06/2025 are "
                    "refused: day and month could be swapped). Nothing was written."
                )
        article = read_article(article_file)
        notes = []
        if day is not None:
            article.published, article.published_found = day, "--published"
        elif article.published is not None:
            notes.append(
                f"published {article.published.isoformat()}: read from {article.published_found} "
                "(give --published to say otherwise)"
            )
        else:
            notes.append(
                "no published date (none given, none printed near the top): undated figures "
                "and 'this year' get no period; give --published"
            )
        if title is None and article.title is not None:
            title = article.title
            notes.append(f"title read from {article.title_found}: '{show(title)}'")
        with store.connect(path, read_only=True) as conn:
            catalog = store.catalog(conn)
            rows = store.query(conn, "SELECT id, sponsor FROM initiatives WHERE id <> 'CONTEXT'")
        sponsors = {str(i): str(s) for i, s in zip(rows["id"], rows["sponsor"], strict=True) if s}
        fallback = f"article {article_file.name} (no title given)"
        source, known = source_cell(catalog, title, url, article.published, fallback)
        notes.append(
            f"source: {known} (a registered source with this title or URL)"
            if known
            else f"source: the citation '{show(source)}' (tracker ingest registers it)"
        )
        indicators = load_indicators(settings.indicators_dir())
        extraction = extract_article(article, indicators, catalog, sponsors, source)
        text = draft_csv(extraction)
        if output is None:
            sys.stdout.write(text)
        else:
            files.write_atomically(output, [text.encode("utf-8")])
        for note in notes:
            err.print(f"{article_file}: {note}.")
        count = len(extraction.proposals)
        where = f"wrote {output}" if output is not None else "wrote the draft"
        err.print(
            f"{where}: {count} figure(s) proposed from {article_file}. Nothing was loaded: "
            "review each row (see its confidence and review cells), delete the ones not "
            f"wanted, then `tracker ingest {output or 'FILE'}`."
        )
        if extraction.passed:
            err.print(f"Not proposed ({len(extraction.passed)}):")
            for passed in extraction.passed:
                err.print(
                    f"  {article_file}:{passed.line}: '{show(passed.figure)}': {passed.reason}"
                )

"""``alttext search``: ranked search over alt texts, file and folder names, and capture dates.

By default, full-text results are fused with results by meaning when the optional `semantic` extra is
installed and the index holds caption vectors; otherwise it is plain full-text search (no model is
loaded). ``--semantic`` searches by meaning only, ``--fts`` by words only.
"""

from __future__ import annotations

import os
import sys

import click

# One query sentence: OpenBLAS's thread pool, started when numpy loads, costs this short process more CPU
# than it ever saves (its idle threads spin: ~40 ms of `alttext search`, bench/startup_bench.py). Set
# before the library imports numpy; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from alttext.cli.common import echo_json, escape_line, open_library
from alttext.library import HIGHLIGHT_END, HIGHLIGHT_START, REVIEW_STATUSES, SearchMode, SearchUnavailable


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Most results to show.")
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--status", type=click.Choice(REVIEW_STATUSES), help="Only captions with this review status.")
@click.option("--semantic", "mode", flag_value="meaning", type=click.Choice(["meaning", "words"]),
              help="Search by meaning only (needs the `semantic` extra): 'a dog on a beach' finds 'puppy on the sand'.")
@click.option("--fts", "mode", flag_value="words", help="Search by words only (full-text), never by meaning.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, alt_text, score, taken_at, ...}.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, under: str | None, status: str | None,
           mode: SearchMode | None, as_json: bool) -> None:
    """Find photos by what they show, where they are filed and when they were taken, e.g.:
    alttext search dog on a beach; alttext search june 2023; alttext search holiday 2024

    Scores: full-text alone is bm25 (higher is better); --semantic is cosine similarity (0 to 1); the
    default fusion of both is a reciprocal-rank score.
    """
    library = open_library(ctx)
    try:
        results = library.search(" ".join(query), limit=limit, under=under, status=status, mode=mode or "auto")
    except SearchUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for note in results.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        echo_json([
            {
                "path": hit.path,
                "alt_text": hit.alt_text,
                "score": hit.score,
                "status": hit.status,
                "source": hit.source,
                "highlighted": hit.highlighted.replace(HIGHLIGHT_START, "[").replace(HIGHLIGHT_END, "]"),
                "taken_at": hit.taken_at,  # when the photo was taken (EXIF, camera's clock), or null; last: new
                "image_text": hit.image_text,  # text read in the picture (searched too), or null
            }
            for hit in results
        ])
        return
    if not results:
        click.echo("no matches", err=True)
        return
    for hit in results:
        shown = _bold_matches(hit.highlighted)
        score = f"{hit.score:7.2f}" if abs(hit.score) >= 0.1 or hit.score == 0 else f"{hit.score:7.4f}"
        click.echo(f"{score}  {escape_line(hit.path)}\n         {shown}")


def _bold_matches(highlighted: str) -> str:
    """The text escaped for the terminal (a caption may hold escape sequences), then our own bold around
    each match: the markers are control characters too, so the text is escaped piece by piece."""
    pieces = []
    for part in highlighted.split(HIGHLIGHT_START):
        match, marker, rest = part.rpartition(HIGHLIGHT_END)
        pieces.append(f"\x1b[1m{escape_line(match)}\x1b[22m{escape_line(rest)}" if marker else escape_line(rest))
    return "".join(pieces)

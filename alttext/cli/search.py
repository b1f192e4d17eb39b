"""``alttext search``: ranked search over alt texts and file names.

By default, full-text (FTS5) results are fused with semantic results (reciprocal rank fusion) when the
optional `semantic` extra is installed and the index holds caption embeddings; otherwise it is plain
full-text search, as fast as before (no model is loaded). ``--semantic`` searches by meaning only,
``--fts`` by words only.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from alttext.cli.common import display_path, echo_json, open_index, settings_from
from alttext.index.models import STATUS_APPROVED, STATUS_EDITED, STATUS_GENERATED

if TYPE_CHECKING:
    from alttext.index.db import Index
    from alttext.search.fts import SearchHit

logger = logging.getLogger(__name__)


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Most results to show.")
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--status", type=click.Choice([STATUS_GENERATED, STATUS_EDITED, STATUS_APPROVED]),
              help="Only captions with this review status.")
@click.option("--semantic", "mode", flag_value="semantic",
              help="Search by meaning only (needs the `semantic` extra): 'a dog on a beach' finds 'puppy on the sand'.")
@click.option("--fts", "mode", flag_value="fts", help="Search by words only (full-text), never by meaning.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, alt_text, score, ...}.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, under: str | None, status: str | None,
           mode: str | None, as_json: bool) -> None:
    """Find photos by what they show, e.g.: alttext search dog on a beach

    Scores: full-text alone is bm25 (higher is better); --semantic is cosine similarity (0 to 1); the
    default fusion of both is a reciprocal-rank score.
    """
    from alttext.search.fts import HIGHLIGHT_END, HIGHLIGHT_START
    from alttext.search.fts import search as run_search

    index = open_index(settings_from(ctx))
    text = " ".join(query)
    hits = None
    if mode == "semantic":
        hits = _semantic(index, text, limit, under, status)
    elif mode is None:
        hits = _hybrid_if_available(index, text, limit, under, status)
    if hits is None:
        hits = run_search(index, text, limit=limit, under=under, status=status)
    if as_json:
        echo_json(
            [
                {
                    "path": display_path(hit.path),
                    "alt_text": hit.alt_text,
                    "score": hit.score,
                    "status": hit.status,
                    "source": hit.source,
                    "highlighted": hit.highlighted.replace(HIGHLIGHT_START, "[").replace(HIGHLIGHT_END, "]"),
                }
                for hit in hits
            ]
        )
        return
    if not hits:
        click.echo("no matches", err=True)
        return
    for hit in hits:
        shown = hit.highlighted.replace(HIGHLIGHT_START, "\x1b[1m").replace(HIGHLIGHT_END, "\x1b[22m")
        score = f"{hit.score:7.2f}" if abs(hit.score) >= 0.1 or hit.score == 0 else f"{hit.score:7.4f}"
        click.echo(f"{score}  {display_path(hit.path)}\n         {shown}")


def _semantic(index: Index, text: str, limit: int, under: str | None, status: str | None) -> list[SearchHit]:
    from alttext.search.encoder import EncoderUnavailable, default_encoder, model_dir
    from alttext.search.semantic import semantic_search
    from alttext.search.vectors import has_vectors, vectors_pending

    try:
        model_dir()  # says how to install the extra when it is missing
        encoder = default_encoder()
    except EncoderUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not has_vectors(index, encoder.name):
        click.echo("error: the index has no caption embeddings yet: run alttext scan on your folders", err=True)
        sys.exit(2)
    missing = vectors_pending(index, encoder.name, encoder.dim)
    if missing:
        click.echo(f"note: {missing} caption(s) are not embedded yet and can't be found by meaning;"
                   " alttext scan embeds them", err=True)
    return semantic_search(index, text, encoder, limit=limit, under=under, status=status)


def _hybrid_if_available(index: Index, text: str, limit: int, under: str | None,
                         status: str | None) -> list[SearchHit] | None:
    """Fused results, or None to fall back to full-text search (no extra, no embeddings, or a failure:
    search must keep working whatever happens to the optional part)."""
    from alttext.search.encoder import MODEL_NAME, semantic_available

    if not semantic_available():
        return None
    from alttext.search.vectors import has_vectors

    if not has_vectors(index, MODEL_NAME):
        return None
    try:
        from alttext.search.encoder import default_encoder
        from alttext.search.semantic import hybrid_search

        return hybrid_search(index, text, default_encoder(), limit=limit, under=under, status=status)
    except Exception as exc:
        logger.warning("semantic search failed (%s); showing full-text results only", exc)
        return None

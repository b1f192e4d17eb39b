"""``alttext search``: ranked full-text search over alt texts and file names."""

from __future__ import annotations

import click

from alttext.cli.common import display_path, echo_json, open_index, settings_from
from alttext.index.models import STATUS_APPROVED, STATUS_EDITED, STATUS_GENERATED


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Most results to show.")
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--status", type=click.Choice([STATUS_GENERATED, STATUS_EDITED, STATUS_APPROVED]),
              help="Only captions with this review status.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, alt_text, score, ...}.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, under: str | None, status: str | None,
           as_json: bool) -> None:
    """Find photos by what they show, e.g.: alttext search dog on a beach"""
    from alttext.index.search import HIGHLIGHT_END, HIGHLIGHT_START
    from alttext.index.search import search as run_search

    index = open_index(settings_from(ctx))
    hits = run_search(index, " ".join(query), limit=limit, under=under, status=status)
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
        click.echo(f"{hit.score:7.2f}  {display_path(hit.path)}\n         {shown}")

"""``alttext export``: alt text for a website or a spreadsheet, as CSV, JSON, JSON Lines, HTML or Markdown."""

from __future__ import annotations

import sys

import click

from alttext.cli.common import open_index, settings_from
from alttext.index.models import STATUS_APPROVED, STATUS_EDITED, STATUS_GENERATED


@click.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl", "html", "md"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--status", type=click.Choice([STATUS_GENERATED, STATUS_EDITED, STATUS_APPROVED]),
              help="Only alt text with this review status (e.g. approved, for publishing).")
@click.option("--relative-to", "relative_to", metavar="DIR", type=click.Path(file_okay=False),
              help="Write paths relative to DIR (default: --under, if given).")
@click.option("--base-url", "base_url", metavar="URL",
              help="Add each file's URL: URL + its path relative to DIR.")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, writable=True),
              help="Write to FILE (replaced atomically) instead of standard output.")
@click.pass_context
def export(ctx: click.Context, fmt: str, under: str | None, status: str | None, relative_to: str | None,
           base_url: str | None, output: str | None) -> None:
    """Export path, URL, alt text, status, source and model of every captioned file, in path order.

    Output is UTF-8 and the same for the same index. Captions are made inert for the format: escaped in
    HTML and Markdown, spreadsheet formulas (cells starting = + - @) defused in CSV.
    """
    from alttext.atomic_write import write_atomically
    from alttext.web.export import export_rows, render

    if relative_to is None:
        relative_to = under
    if base_url and relative_to is None:
        raise click.UsageError("--base-url needs --relative-to DIR (or --under FOLDER) to know each file's URL path")
    index = open_index(settings_from(ctx))
    rows = export_rows(index, under=under, status=status, relative_to=relative_to, base_url=base_url)
    chunks = (chunk.encode("utf-8") for chunk in render(fmt, rows))
    if output:
        write_atomically(output, chunks)
        return
    sys.stdout.flush()
    stream = sys.stdout.buffer  # bytes: UTF-8 whatever the terminal's locale says
    for chunk in chunks:
        stream.write(chunk)
    stream.flush()

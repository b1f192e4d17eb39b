"""``alttext export``: alt text for a website or a spreadsheet, as CSV, JSON, JSON Lines, HTML or Markdown."""

from __future__ import annotations

import os
import sys

import click

from alttext.cli.common import escape_line, on_interrupt, open_library, storage_failure
from alttext.library import EXPORT_FORMATS, REVIEW_STATUSES


@click.command()
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv",
              show_default=True, help="Output format.")
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--status", type=click.Choice(REVIEW_STATUSES),
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
    """Export path, URL, alt text, status, source, model, long description and text in the image of every
    captioned file, in path order.

    Output is UTF-8 and the same for the same index. Captions are made inert for the format: escaped in
    HTML and Markdown, spreadsheet formulas (cells starting = + - @) defused in CSV.
    """
    if output:
        # A folder that isn't there is a typo more often than a wish: say so before any work, rather than
        # make folders (or a stray tree) nobody asked for.
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise click.BadParameter(f"folder {escape_line(folder)} does not exist (create it first)",
                                     param_hint="'-o' / '--output'")
    library = open_library(ctx)
    on_interrupt(ctx, lambda: f"{output} was left as it was (it is replaced only when complete)" if output
                 else "the output above is incomplete")
    filters = {"under": under, "status": status, "relative_to": relative_to, "base_url": base_url}
    try:
        if output:
            try:
                library.export_to_file(output, fmt, **filters)
            except OSError as exc:  # a write to the temporary copy names no file: name the one asked for
                if exc.filename is None:
                    exc.filename = output
                if storage_failure(exc, None) is not None:
                    raise  # disk full or read-only: the command group's one line for every command
                raise click.ClickException(f"cannot write {escape_line(output)}: {exc.strerror or exc}") from exc
            return
        chunks = (chunk.encode("utf-8") for chunk in library.export(fmt, **filters))
    except ValueError as exc:  # options that contradict each other
        raise click.UsageError(str(exc)) from exc
    sys.stdout.flush()
    stream = sys.stdout.buffer  # bytes: UTF-8 whatever the terminal's locale says
    for chunk in chunks:
        stream.write(chunk)
    stream.flush()

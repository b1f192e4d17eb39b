"""``alttext scan``: bring the index in step with folders and caption what is new."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

import click

from alttext.cli.common import echo_json, escape_line, interrupted, model_errors, model_options, open_library
from alttext.cli.progress import progress_bars


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@model_options
@click.option("--embed", "embed_after", is_flag=True,
              help="Then write the alt text into the photos' metadata (see: alttext embed --help).")
@click.option("--no-metadata", is_flag=True, help="Don't import alt text or descriptions the files already hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def scan(ctx: click.Context, folders: tuple[str, ...], embed_after: bool, no_metadata: bool, as_json: bool,
         **model_flags: Any) -> None:
    """Index FOLDERS: caption new and changed images, follow moves, mark deleted files missing.

    Unchanged files are skipped by their size and modification time, without reading them. Text a
    photo's metadata already holds (IPTC alt text, description) is imported instead of running the
    model. Ctrl-C is safe: what is captioned is kept and the next run continues. Exits 1 while any file
    is failed, including those held back after failing three times as they are (tried again once changed).
    """
    library = open_library(ctx, create=True, **model_flags)
    with ExitStack() as bars, model_errors():
        progress = progress_bars(bars, enabled=not as_json)
        try:
            result = library.scan(folders, embed=embed_after, import_metadata=not no_metadata, progress=progress)
        except KeyboardInterrupt:
            interrupted("captions")
    summary = result.summary
    if as_json:
        echo_json(summary.as_dict())
    else:
        for error in summary.errors:
            click.echo(f"{escape_line(error['path'])}: error: {escape_line(error['error'])}", err=True)
        for folder in summary.unreadable_dirs:
            click.echo(f"{escape_line(folder)}: error: folder cannot be read", err=True)
        click.echo(
            f"new {summary.new}, changed {summary.changed}, moved {summary.moved}, unchanged {summary.unchanged},"
            f" missing {summary.missing}, restored {summary.restored}, failed {summary.still_failed}"
            + (f" ({summary.held_back} held back after repeated failures)" if summary.held_back else "") +
            f" (captioned {summary.captioned}, reused {summary.reused}, from metadata {summary.imported})"
        )
    embed_failed = result.after.embed_failed
    if embed_after:
        for target, outcome in result.after.embedded:
            if not outcome.ok:
                click.echo(f"{escape_line(target.path)}: embed error: {escape_line(str(outcome.error))}", err=True)
        if not as_json:
            click.echo(f"embedded {len(result.after.embedded) - embed_failed} file(s), {embed_failed} failed")
    if summary.still_failed or embed_failed:  # while any file stays failed, as status counts it
        sys.exit(1)


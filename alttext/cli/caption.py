"""``alttext caption``: caption files, folders and URLs without touching the index."""

from __future__ import annotations

import sys
from typing import Any

import click

from alttext.cli.common import echo_json, escape_line, model_errors, model_options, on_interrupt, open_library
from alttext.cli.progress import progress_bar


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="PATH_OR_URL...")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results.")
@click.pass_context
def caption(ctx: click.Context, inputs: tuple[str, ...], as_json: bool, **model_flags: Any) -> None:
    """Caption image files, folders (recursively) and http(s) URLs.

    Prints one "path<TAB>alt text" line per image (errors go to stderr), or with --json a list of
    objects with path, alt_text, raw_caption, description (with --describe), image_text (with --read-text),
    model and error. In lines, a backslash, tab, newline or other control character in a name or text is
    escaped like in C (backslash t, backslash n, backslash xNN; see README, "Line output"), so each image is
    one line. Exits 1 if any item failed.
    """
    library = open_library(ctx, index=False, **model_flags)
    with model_errors():
        outcomes = library.caption(inputs)
    results = []
    failed = 0
    on_interrupt(ctx, lambda: "caption writes nothing to the index or the files; "
                 + ("--json prints only at the end" if as_json else "the captions printed above are all there is"))
    with progress_bar("caption", None, unit="image") as bar:  # the total is unknown: folders expand lazily
        for outcome in outcomes:
            bar.advance()
            path = outcome.location  # JSON gets it raw (echo_json keeps a non-UTF-8 name's bytes), lines escaped
            if not outcome.ok:
                failed += 1
            if as_json:
                results.append({"path": path, "alt_text": outcome.alt_text, "raw_caption": outcome.raw_caption,
                                "description": outcome.description, "image_text": outcome.image_text,
                                "model": outcome.model,
                                "error": outcome.error})
            elif outcome.ok:
                bar.echo(f"{escape_line(path)}\t{escape_line(outcome.alt_text or '')}")
            else:
                bar.echo(f"{escape_line(path)}: error: {escape_line(str(outcome.error))}", err=True)
    if as_json:
        echo_json(results)
    if failed:
        sys.exit(1)

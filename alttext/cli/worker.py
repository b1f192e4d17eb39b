"""``alttext worker``: caption pending files of a shared index beside other workers (docs/architecture.md §16)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from alttext.cli.common import model_errors, model_options, open_library
from alttext.cli.watch import Duration


@click.command()
@model_options
@click.option("--lease", type=Duration(), metavar="D",
              help="How long a claim lasts unless renewed (default: the worker_lease setting, 60 s). A worker that"
                   " dies or stalls this long loses its files to the others.")
@click.option("--poll", type=Duration(), default="5s", show_default=True, metavar="D",
              help="Time between looks at an empty queue.")
@click.option("--path-map", metavar="MAP",
              help="Where this machine finds the index's files: /index/folder=/local/folder[;...] (the path_map"
                   " setting).")
@click.option("--until-empty", is_flag=True, help="Stop once nothing is pending (instead of waiting for more).")
@click.option("--no-metadata", is_flag=True, help="Don't import alt text or descriptions the files already hold.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def worker(ctx: click.Context, lease: float | None, poll: float, path_map: str | None, until_empty: bool,
           no_metadata: bool, verbose: int, **model_flags: Any) -> None:
    """Caption the pending files of the index (--db), beside any number of other workers on this machine or
    others that see the photos. Start one `alttext watch --no-caption` to find new photos and as many workers
    as you have machines or cores for.

    Each worker claims a few files at a time under a lease it renews; one that dies or stalls loses them to
    the others, and a result is stored only while its claim holds. A database restart is waited out. SIGTERM
    or Ctrl-C: the batch in progress is finished, the rest given back.
    """
    logging.getLogger("alttext").setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    library = open_library(ctx, create=True, worker_lease=lease, path_map=path_map, **model_flags)
    try:
        with model_errors():
            totals = library.worker(import_metadata=not no_metadata, poll=poll, until_empty=until_empty)
    except ValueError as exc:  # a malformed path map
        raise click.BadParameter(str(exc), param_hint="--path-map / path_map") from exc
    finally:
        library.close()
    click.echo(f"indexed {totals.files} file(s), {totals.images} through the model, {totals.failed} failed"
               + (f", {totals.lost} result(s) left to the worker that took them over" if totals.lost else ""),
               err=True)
    sys.exit(0)

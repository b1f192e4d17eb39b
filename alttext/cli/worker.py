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
@click.option("--jobs", "kinds", metavar="KINDS",
              help="The work it takes, comma-separated: captions, vectors (sentence vectors for search by meaning,"
                   " with the semantic extra), variants (queued variants jobs, with a chat endpoint configured)."
                   " Default: every kind it can do.")
@click.option("--variants", "with_variants", is_flag=True,
              help="Also run queued creative variants jobs (as watch --variants); an error without a chat endpoint.")
@click.option("--until-empty", is_flag=True, help="Stop once nothing is pending (instead of waiting for more).")
@click.option("--no-metadata", is_flag=True, help="Don't import alt text or descriptions the files already hold.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def worker(ctx: click.Context, lease: float | None, poll: float, path_map: str | None, kinds: str | None,
           with_variants: bool, until_empty: bool, no_metadata: bool, verbose: int, **model_flags: Any) -> None:
    """Caption the pending files of the index (--db), beside any number of other workers on this machine or
    others that see the photos. Start one `alttext watch --no-caption` to find new photos and as many workers
    as you have machines or cores for.

    Each worker claims a few files at a time under a lease it renews; one that dies or stalls loses them to
    the others, and a result is stored only while its claim holds. Sentence vectors for new captions and
    queued variants jobs are claimed the same way (--jobs). A database restart is waited out. SIGTERM
    or Ctrl-C: the batch in progress is finished, the rest given back.
    """
    logging.getLogger("alttext").setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    library = open_library(ctx, create=True, worker_lease=lease, path_map=path_map, **model_flags)
    try:
        with model_errors():
            totals = library.worker(import_metadata=not no_metadata, poll=poll, until_empty=until_empty,
                                    kinds=kinds.split(",") if kinds is not None else None, variants=with_variants)
    except ValueError as exc:  # a malformed path map, a kind of work unknown or not available here
        raise click.BadParameter(str(exc), param_hint="--jobs / --variants / --path-map") from exc
    finally:
        library.close()
    click.echo(f"indexed {totals.files} file(s), {totals.images} through the model, {totals.failed} failed"
               + (f", {totals.vectors} vector(s)" if totals.vectors else "")
               + (f", {totals.variants} variants job(s)" if totals.variants else "")
               + (f", {totals.lost} result(s) left to the worker that took them over" if totals.lost else ""),
               err=True)
    sys.exit(0)

"""``alttext db``: whole-index operations; ``alttext db copy SOURCE DEST`` moves an index between SQLite
and PostgreSQL (docs/architecture.md §12)."""

from __future__ import annotations

import sys

import click

from alttext.cli.common import echo_json
from alttext.library import CopyRefused, copy_index, redact


@click.group()
def db() -> None:
    """Whole-index operations (copying an index between SQLite and PostgreSQL)."""


@db.command()
@click.argument("source")
@click.argument("destination")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {table, source, destination, matches}.")
def copy(source: str, destination: str, as_json: bool) -> None:
    """Copy the index SOURCE into the new, empty index DESTINATION.

    Each is an SQLite file or a postgresql:// address. Every row is copied with its ids (captions with
    their provenance and review state, files, variants, vectors, jobs, the index identity); the search
    table is rebuilt on DESTINATION. Prints each table's row count at both ends; exits 1 if any differ,
    2 if DESTINATION is not empty or an index cannot be opened.
    """
    try:
        counts = copy_index(source, destination)
    except CopyRefused as exc:
        click.echo(f"alttext db copy: {redact(str(exc))}", err=True)
        sys.exit(2)
    if as_json:
        echo_json([count.as_dict() for count in counts])
    else:
        width = max(len(count.table) for count in counts)
        for count in counts:
            mark = "" if count.matches else "  MISMATCH"
            click.echo(f"{count.table:<{width}}  {count.source:>10}  {count.destination:>10}{mark}")
    if not all(count.matches for count in counts):
        click.echo("alttext db copy: row counts differ between source and destination", err=True)
        sys.exit(1)

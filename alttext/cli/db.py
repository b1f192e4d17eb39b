"""``alttext db``: whole-index operations; ``alttext db copy SOURCE DEST`` moves an index between SQLite
and PostgreSQL (docs/architecture.md §12)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import click

from alttext.cli.common import echo_json
from alttext.cli.progress import Bar, progress_bar, progress_wanted
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
        with table_progress() as progress:
            counts = copy_index(source, destination, progress=progress)
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


class _TableBars:
    """A bar per table, counting its rows; the tables are copied one after the other."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._table: str | None = None
        self._done = 0
        self._bar: Bar | None = None

    def __call__(self, table: str, copied: int) -> None:
        if table != self._table or self._bar is None:
            self._stack.close()  # the last table's bar is complete
            self._table, self._done = table, 0
            self._bar = self._stack.enter_context(progress_bar(table, None, unit="row"))
        self._bar.advance(copied - self._done)
        self._done = copied


@contextmanager
def table_progress() -> Iterator[Callable[[str, int], None] | None]:
    """On a terminal, a bar per table counting its rows as they are copied (an index of 10^7 photos takes
    a while); elsewhere None, so nothing is counted for nobody."""
    if not progress_wanted():
        yield None
        return
    with ExitStack() as stack:
        yield _TableBars(stack)

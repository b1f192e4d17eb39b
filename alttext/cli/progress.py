"""Progress bars for long work (caption, scan and the vectors after it, embed, variants): on a terminal
only. A pipe, a log file and a systemd unit (the journal) get no bar: its carriage returns would be noise.

One library, tqdm (already a dependency), draws them on stderr, so standard output stays the command's
result; lines printed while a bar is shown go through :meth:`Bar.echo`, which lifts the bar first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click

import alttext.library as api

# Set by systemd for a service's processes (JOURNAL_STREAM: stderr goes to the journal).
_SYSTEMD_VARIABLES = ("JOURNAL_STREAM", "INVOCATION_ID")


def progress_wanted() -> bool:
    """Draw progress? Only when stderr is a terminal and this is not a systemd service."""
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False
    return terminal and not any(os.environ.get(name) for name in _SYSTEMD_VARIABLES)


class Bar:
    """One bar, or (``quiet``) nothing: ``advance`` then does nothing and ``echo`` is click's."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar

    def advance(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def echo(self, line: str, *, err: bool = False) -> None:
        if self._bar is None:
            click.echo(line, err=err)
            return
        self._bar.clear()
        click.echo(line, err=err)
        self._bar.refresh()


@contextmanager
def progress_bar(label: str, total: int | None, *, enabled: bool = True, unit: str = "file") -> Iterator[Bar]:
    """A bar for ``total`` items (None: a count and a rate), when ``enabled`` and :func:`progress_wanted`."""
    if not (enabled and progress_wanted()):
        yield Bar()
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=label, unit=unit, dynamic_ncols=True, leave=True, file=sys.stderr) as bar:
        yield Bar(bar)


def progress_bars(stack: ExitStack, *, enabled: bool = True) -> api.Progress | None:
    """The library's ``Progress`` (label, total -> advance(n)), each bar closed with ``stack``; None when
    no bar is wanted, so the library does no counting for nobody."""
    if not (enabled and progress_wanted()):
        return None

    def make(label: str, total: int | None) -> Callable[[int], None]:
        return stack.enter_context(progress_bar(label, total)).advance

    return make

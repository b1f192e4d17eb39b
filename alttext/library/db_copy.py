"""Copying an index to another database (``alttext db copy``; docs/architecture.md §12): the front door's
face of alttext.index.copy, which is imported only when a copy runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass


class CopyRefused(Exception):
    """The copy could not start (a source or destination that can't be opened, or a destination that is
    not empty); nothing was written. The message is one line for the user."""


@dataclass(frozen=True)
class CopiedTable:
    """One table's row count at both ends after a copy."""

    table: str
    source: int
    destination: int

    @property
    def matches(self) -> bool:
        return self.source == self.destination

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "source": self.source, "destination": self.destination,
                "matches": self.matches}


def copy_index(source: str | os.PathLike[str], destination: str | os.PathLike[str],
               progress: Callable[[str, int], None] | None = None) -> list[CopiedTable]:
    """Copy every row of the index at ``source`` (an SQLite path or a ``postgresql://`` address) into the
    new, empty index at ``destination``; the per-table counts of both ends, afterwards."""
    from alttext.index.copy import DestinationNotEmpty
    from alttext.index.copy import copy_index as copy
    from alttext.index.db import IndexUnavailable

    try:
        counts = copy(source, destination, progress=progress)
    except (DestinationNotEmpty, IndexUnavailable) as exc:
        raise CopyRefused(str(exc)) from exc
    return [CopiedTable(count.table, count.source, count.destination) for count in counts]

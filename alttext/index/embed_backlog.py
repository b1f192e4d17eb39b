"""Which files wait for write-back, as SQL text: the one rule behind the write-back queue (``embed_queue``
in writeback.py, composed in SQLAlchemy Core) and ``status``'s count of it (here, through ``read_sql``, so
``alttext status`` needs no SQLAlchemy: docs/architecture.md §6).

The conditions name the tables as they are (``files``, ``captions``, ``jobs``), which is how the Core
queries they are added to name them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from alttext.index.db import Index
from alttext.index.dbapi import bound_time
from alttext.vocabulary import EMBED_JOB, INDEXED, SOURCE_METADATA

# The states of a hold (a ``jobs`` row of kind ``embed``): a failed write-back is retried after a while
# (queued, ``next_try_at``), then parked; a skipped one is parked at once. Parked holds wait for a new
# caption or `alttext embed`.
QUEUED, PARKED = "queued", "parked"

# The file's current caption is not in it yet (text that came from the file itself is already there).
NOT_EMBEDDED = (
    "(files.embedded_caption_id IS NULL OR files.embedded_caption_id != captions.id)"
    f" AND captions.source != '{SOURCE_METADATA}'"
)

# The caption a hold is for (jobs.payload's "caption_id"), in each dialect's JSON syntax.
_HELD_CAPTION = {
    "sqlite": "CAST(json_extract(jobs.payload, '$.caption_id') AS INTEGER)",
    "postgresql": "CAST(jobs.payload ->> 'caption_id' AS INTEGER)",
}


def held(dialect: str) -> str:
    """The write-back of the file's current caption is held back (failed and not due again before
    ``:now``, or parked)."""
    return (
        f"EXISTS (SELECT jobs.id FROM jobs WHERE jobs.kind = '{EMBED_JOB}' AND jobs.target_id = files.id"
        f" AND {_HELD_CAPTION[dialect]} = captions.id AND (jobs.state = '{PARKED}' OR jobs.next_try_at > :now))"
    )


@dataclass(frozen=True)
class EmbedBacklog:
    waiting: int  # to be written by the next run (`watch --embed` writes them as it goes)
    held: int  # held back after a failure (retried later) or a skip; `alttext embed` tries them now


_BACKLOG = f"""
    SELECT count(*) FROM files JOIN images ON images.id = files.image_id
    JOIN captions ON captions.id = images.caption_id
    WHERE files.state = '{INDEXED}' AND {NOT_EMBEDDED}
"""


def embed_backlog(index: Index) -> EmbedBacklog:
    """How many files' current alt text is not in them yet, for ``alttext status``."""
    now = bound_time(datetime.now(UTC), index.dialect)
    with index.read_sql() as connection:
        total = int(connection.scalar(_BACKLOG) or 0)
        held_back = int(connection.scalar(f"{_BACKLOG} AND {held(index.dialect)}", {"now": now}) or 0)
    return EmbedBacklog(total - held_back, held_back)

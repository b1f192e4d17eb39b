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

# Each dialect's spelling: "differs, NULL counting as a value", and a hold's caption and description
# (jobs.payload's "caption_id" and "description_id").
_DISTINCT = {"sqlite": "IS NOT", "postgresql": "IS DISTINCT FROM"}
_PAYLOAD_ID = {"sqlite": "CAST(json_extract(jobs.payload, '$.{key}') AS INTEGER)",
               "postgresql": "CAST(jobs.payload ->> '{key}' AS INTEGER)"}


def not_embedded(dialect: str) -> str:
    """The file's current caption is not in it yet (text that came from the file is already there), or its
    long description is not: a person's edit has none, so a newer model description of the picture changes
    what the file should carry while its current caption stays the same (images.description_id)."""
    return (
        "(files.embedded_caption_id IS NULL OR files.embedded_caption_id != captions.id"
        f" OR files.embedded_description_id {_DISTINCT[dialect]} images.description_id)"
        f" AND captions.source != '{SOURCE_METADATA}'"
    )


def held(dialect: str) -> str:
    """The write-back of the file's current caption (and description) is held back (failed and not due again
    before ``:now``, or parked)."""
    caption, description = (_PAYLOAD_ID[dialect].format(key=key) for key in ("caption_id", "description_id"))
    return (
        f"EXISTS (SELECT jobs.id FROM jobs WHERE jobs.kind = '{EMBED_JOB}' AND jobs.target_id = files.id"
        f" AND {caption} = captions.id AND coalesce({description}, 0) = coalesce(images.description_id, 0)"
        f" AND (jobs.state = '{PARKED}' OR jobs.next_try_at > :now))"
    )


@dataclass(frozen=True)
class EmbedBacklog:
    waiting: int  # to be written by the next run (`watch --embed` writes them as it goes)
    held: int  # held back after a failure (retried later) or a skip; `alttext embed` tries them now


def _backlog(dialect: str) -> str:
    return f"""
        SELECT count(*) FROM files JOIN images ON images.id = files.image_id
        JOIN captions ON captions.id = images.caption_id
        WHERE files.state = '{INDEXED}' AND {not_embedded(dialect)}
    """


def embed_backlog(index: Index) -> EmbedBacklog:
    """How many files' current alt text is not in them yet, for ``alttext status``."""
    now = bound_time(datetime.now(UTC), index.dialect)
    backlog = _backlog(index.dialect)
    with index.read_sql() as connection:
        total = int(connection.scalar(backlog) or 0)
        held_back = int(connection.scalar(f"{backlog} AND {held(index.dialect)}", {"now": now}) or 0)
    return EmbedBacklog(total - held_back, held_back)

"""Which index this is: the random id made when it was created (migration 0004)."""

from __future__ import annotations

from sqlalchemy import select

from alttext.index.db import Index
from alttext.index.models import index_identity


def index_uid(index: Index) -> str:
    """The index's id: 32 hex digits, the same for as long as the index exists, different in every index."""
    with index.read() as connection:
        uid = connection.execute(select(index_identity.c.uid).where(index_identity.c.id == 1)).scalar()
    if not uid:  # only a hand-damaged index lacks it; the migration always writes the row
        raise RuntimeError(f"{index.path}: the index has no identity row (table index_identity)")
    return str(uid)

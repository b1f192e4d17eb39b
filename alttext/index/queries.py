"""Read-only questions about the index: the lookups the faces need (status and show: index/overview.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from alttext.index.db import Index
from alttext.index.models import FAILED, INDEXED, SOURCE_MODEL, captions, files, images, variants

# status and show, in plain SQL (index/overview.py); importable from here too, where they used to be.
from alttext.index.overview import describe_file as describe_file
from alttext.index.overview import file_state_counts as file_state_counts
from alttext.index.overview import index_status as index_status
from alttext.index.selection import named


def model_captions_since(index: Index, since: datetime) -> list[int]:
    """Ids of the captions a model wrote since ``since`` (the ones that may get creative variants)."""
    with index.read() as connection:
        return [row.id for row in connection.execute(
            select(captions.c.id).where(captions.c.created_at >= since, captions.c.source == SOURCE_MODEL)
        )]


@dataclass(frozen=True)
class CurrentCaption:
    """An image's current caption, as a website publishing it needs it."""

    alt_text: str
    status: str
    source: str


_CURRENT_BY_PATH = text("""
    SELECT c.text AS alt_text, c.status AS status, c.source AS source
    FROM files f JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id
    WHERE f.path = :path AND f.state = 'indexed'
""")
_CURRENT_BY_PIXELS = text("""
    SELECT c.text AS alt_text, c.status AS status, c.source AS source
    FROM images i JOIN captions c ON c.id = i.caption_id WHERE i.content_hash = :hash OR i.pixel_hash = :hash
""")


def current_caption_by_path(index: Index, path: str) -> CurrentCaption | None:
    with index.read() as connection:
        row = connection.execute(_CURRENT_BY_PATH, {"path": os.fsencode(path)}).first()
    return CurrentCaption(row.alt_text, row.status, row.source) if row else None


def current_caption_by_pixels(index: Index, pixel_hash: str) -> CurrentCaption | None:
    with index.read() as connection:
        row = connection.execute(_CURRENT_BY_PIXELS, {"hash": pixel_hash}).first()
    return CurrentCaption(row.alt_text, row.status, row.source) if row else None


@dataclass(frozen=True)
class CaptionedFile:
    path: str
    caption_id: int
    caption: str


def captioned_files(index: Index, paths: list[str]) -> tuple[list[CaptionedFile], list[tuple[str, str]]]:
    """Indexed files with a current caption for ``paths`` (files, or folders: every such file below), in
    the order named, each once; and (path, problem) for what names nothing usable."""
    query = (
        select(files.c.path, files.c.state, captions.c.id, captions.c.text)
        .select_from(files.outerjoin(images, images.c.id == files.c.image_id)
                     .outerjoin(captions, captions.c.id == images.c.caption_id))
    )
    found: dict[str, CaptionedFile] = {}
    problems: list[tuple[str, str]] = []
    with index.read() as connection:
        for path in paths:
            narrowed, folder = named(query, path)
            if folder:
                rows = connection.execute(
                    narrowed.where(files.c.state == INDEXED, captions.c.id.is_not(None)).order_by(files.c.path)
                ).all()
                if not rows:
                    problems.append((path, "no indexed, captioned files here (run: alttext scan FOLDER)"))
            else:
                rows = connection.execute(narrowed).all()
                if not rows:
                    problems.append((path, "not in the index (run: alttext scan FOLDER)"))
                elif rows[0].state != INDEXED or rows[0].id is None:
                    problems.append((path, f"has no caption (state: {rows[0].state})"))
                    rows = []
            for row in rows:
                found.setdefault(row.path, CaptionedFile(row.path, row.id, row.text))
    return list(found.values()), problems


def captions_with_variants(index: Index, caption_ids: list[int], n: int, style: str) -> set[int]:
    """Those of ``caption_ids`` that already have at least ``n`` variants in ``style``."""
    with index.read() as connection:
        rows = connection.execute(
            select(variants.c.caption_id).where(variants.c.caption_id.in_(caption_ids), variants.c.style == style)
            .group_by(variants.c.caption_id).having(func.count() >= n)
        ).all()
    return {row.caption_id for row in rows}


@dataclass(frozen=True)
class FileIdentity:
    path: str
    state: str
    pixel_hash: str | None  # None until the file is decoded (pending, failed)


def file_identity(index: Index, file_id: int) -> FileIdentity | None:
    """The file with this id: where it is and which picture it shows (None for an unknown id)."""
    with index.read() as connection:
        row = connection.execute(
            select(files.c.path, files.c.state, images.c.pixel_hash)
            .select_from(files.outerjoin(images, images.c.id == files.c.image_id))
            .where(files.c.id == file_id)
        ).first()
    return FileIdentity(row.path, row.state, row.pixel_hash) if row else None


def file_id_of(index: Index, path: str) -> int | None:
    with index.read() as connection:
        return connection.execute(select(files.c.id).where(files.c.path == os.path.abspath(path))).scalar()


def recent_activity(index: Index, since: datetime, *, failures: int = 10) -> dict[str, Any]:
    """What the daemon (or a scan) did since ``since``: model captions written, and the newest failures."""
    with index.read() as connection:
        captioned = connection.execute(
            select(func.count()).select_from(captions)
            .where(captions.c.created_at >= since, captions.c.source == SOURCE_MODEL)
        ).scalar() or 0
        failed = connection.execute(
            select(files.c.id, files.c.path, files.c.error, files.c.attempts)
            .where(files.c.state == FAILED).order_by(files.c.id.desc()).limit(failures)
        ).all() if failures else []
    return {
        "captioned": int(captioned),
        "recent_failures": [{"file_id": row.id, "path": row.path, "error": row.error, "attempts": row.attempts}
                            for row in failed],
    }

"""Read-only questions about the index: one file, overall counts, and the lookups the faces need."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from alttext.index.db import Index
from alttext.index.models import (
    FAILED,
    INDEXED,
    MISSING,
    PENDING,
    SOURCE_MODEL,
    captions,
    files,
    images,
    roots,
    variants,
)
from alttext.index.selection import named
from alttext.index.writeback import embed_backlog


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _caption_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "alt_text": row.text,
        "raw_caption": row.raw_text,
        "description": row.description,
        "image_text": row.image_text,
        "source": row.source,
        "status": row.status,
        "model": row.model,
        "model_revision": row.model_revision,
        "params": row.params,
        "created_at": _iso(row.created_at),
    }


def describe_file(index: Index, path: str) -> dict[str, Any] | None:
    """Everything known about the file at ``path``; None when the index has never seen it."""
    absolute = os.path.abspath(path)
    with index.read() as connection:
        file_row = connection.execute(select(files).where(files.c.path == absolute)).first()
        if file_row is None:
            return None
        result: dict[str, Any] = {
            "path": file_row.path,
            "state": file_row.state,
            "alt_text": None,
            "raw_caption": None,
            "description": None,
            "image_text": None,
            "source": None,
            "status": None,
            "model": None,
            "model_revision": None,
            "params": None,
            "captioned_at": None,
            "other_paths": [],
            "error": file_row.error,
            "size": file_row.size,
            "indexed_at": _iso(file_row.indexed_at),
            "missing_since": _iso(file_row.missing_since),
            "image": None,
            "captions": [],
            "variants": [],
            "embedded": None,
        }
        if file_row.image_id is None:
            return result
        image_row = connection.execute(select(images).where(images.c.id == file_row.image_id)).one()
        result["image"] = {"id": image_row.id, "width": image_row.width, "height": image_row.height,
                           "pixel_hash": image_row.pixel_hash}
        all_captions = connection.execute(
            select(captions).where(captions.c.image_id == image_row.id)
            .order_by(captions.c.created_at.desc(), captions.c.id.desc())
        ).all()
        result["captions"] = [_caption_dict(row) for row in all_captions]
        current = next((row for row in all_captions if row.id == image_row.caption_id), None)
        if current is not None:
            result.update(
                alt_text=current.text, raw_caption=current.raw_text, source=current.source, status=current.status,
                model=current.model, model_revision=current.model_revision, params=current.params,
                captioned_at=_iso(current.created_at),
            )
            # A person's edit has no description of its own: the newest model description still describes
            # the same picture (docs/architecture.md §13).
            result["description"] = next(
                (row.description for row in [current, *all_captions] if row.description), None
            )
            # The text in the picture is the picture's whoever wrote the alt text (§15): the same rule.
            result["image_text"] = next(
                (row.image_text for row in [current, *all_captions] if row.image_text), None
            )
            result["variants"] = [
                {"text": row.text, "style": row.style, "model": row.llm_model, "created_at": _iso(row.created_at)}
                for row in connection.execute(
                    select(variants).where(variants.c.caption_id == current.id).order_by(variants.c.id)
                )
            ]
        result["other_paths"] = [
            row.path
            for row in connection.execute(
                select(files.c.path).where(
                    files.c.image_id == image_row.id, files.c.id != file_row.id, files.c.state != MISSING
                ).order_by(files.c.path)
            )
        ]
        if file_row.embedded_at is not None:
            result["embedded"] = {"where": file_row.embedded_where, "at": _iso(file_row.embedded_at),
                                  "caption_id": file_row.embedded_caption_id}
    return result


def index_status(index: Index) -> dict[str, Any]:
    by_state = file_state_counts(index)
    backlog = embed_backlog(index)
    with index.read() as connection:
        image_count = connection.execute(select(func.count()).select_from(images)).scalar() or 0
        captioned = connection.execute(
            select(func.count()).select_from(images).where(images.c.caption_id.is_not(None))
        ).scalar() or 0
        root_rows = connection.execute(select(roots.c.path, roots.c.last_scan_at).order_by(roots.c.path)).all()
        models = connection.execute(
            select(captions.c.model, func.count()).where(captions.c.model.is_not(None))
            .group_by(captions.c.model).order_by(func.count().desc())
        ).all()
    return {
        "files": int(by_state.get(INDEXED, 0)),
        "images": int(image_count),
        "captioned": int(captioned),
        "pending": int(by_state.get(PENDING, 0)),
        "failed": int(by_state.get(FAILED, 0)),
        "missing": int(by_state.get(MISSING, 0)),
        "roots": [{"path": row.path, "last_scan_at": _iso(row.last_scan_at)} for row in root_rows],
        "models": {model: int(count) for model, count in models},
        "embed_waiting": backlog.waiting,
        "embed_held": backlog.held,
        "index_path": index.path,
        "index_bytes": index.size_bytes(),
    }


def file_state_counts(index: Index) -> dict[str, int]:
    """How many files are in each state (indexed, pending, failed, missing)."""
    with index.read() as connection:
        return {state: int(count) for state, count in
                connection.execute(select(files.c.state, func.count()).group_by(files.c.state)).all()}


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

"""Read-only questions about the index: everything about one file, and overall counts."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import func, select

from alttext.index.db import Index
from alttext.index.models import FAILED, INDEXED, MISSING, PENDING, Caption, File, Image, Root, Variant

files = File.__table__
images = Image.__table__
captions = Caption.__table__
roots = Root.__table__
variants = Variant.__table__


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _caption_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "alt_text": row.text,
        "raw_caption": row.raw_text,
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
        image_row = connection.execute(select(images).where(images.c.id == file_row.image_id)).first()
        result["image"] = {"id": image_row.id, "width": image_row.width, "height": image_row.height,
                           "pixel_hash": image_row.pixel_hash}
        all_captions = connection.execute(
            select(captions).where(captions.c.image_id == image_row.id).order_by(captions.c.created_at.desc())
        ).all()
        result["captions"] = [_caption_dict(row) for row in all_captions]
        current = next((row for row in all_captions if row.id == image_row.caption_id), None)
        if current is not None:
            result.update(
                alt_text=current.text, raw_caption=current.raw_text, source=current.source, status=current.status,
                model=current.model, model_revision=current.model_revision, params=current.params,
                captioned_at=_iso(current.created_at),
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
    with index.read() as connection:
        by_state = dict(connection.execute(select(files.c.state, func.count()).group_by(files.c.state)).all())
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
        "index_path": index.path,
        "index_bytes": index.size_bytes(),
    }

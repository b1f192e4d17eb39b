"""What ``alttext status`` and ``alttext show`` say: counts over the whole index, and everything known
about one file. SQL text through ``Index.read_sql``, the same on both backends, so these commands start
without importing SQLAlchemy on SQLite (docs/architecture.md §6); values are converted as the column
types in models.py would (index/dbapi.py).
"""

from __future__ import annotations

import os
from typing import Any

from alttext.index.db import Index
from alttext.index.dbapi import ReadConnection, as_json, as_path, iso_utc
from alttext.index.embed_backlog import embed_backlog
from alttext.vocabulary import FAILED, INDEXED, MISSING, PENDING

_FILE = """
    SELECT id, path, state, error, size, indexed_at, missing_since, image_id, embedded_caption_id,
           embedded_where, embedded_at
    FROM files WHERE path = ?
"""
_CAPTIONS = """
    SELECT id, text, raw_text, description, source, status, model, model_revision, params, created_at
    FROM captions WHERE image_id = ? ORDER BY created_at DESC
"""


def describe_file(index: Index, path: str) -> dict[str, Any] | None:
    """Everything known about the file at ``path``; None when the index has never seen it."""
    with index.read_sql() as connection:
        file_row = connection.execute(_FILE, (os.fsencode(os.path.abspath(path)),)).fetchone()
        if file_row is None:
            return None
        (file_id, stored_path, state, error, size, indexed_at, missing_since, image_id, embedded_caption_id,
         embedded_where, embedded_at) = file_row
        result: dict[str, Any] = {
            "path": as_path(stored_path),
            "state": state,
            "alt_text": None,
            "raw_caption": None,
            "description": None,
            "source": None,
            "status": None,
            "model": None,
            "model_revision": None,
            "params": None,
            "captioned_at": None,
            "other_paths": [],
            "error": error,
            "size": size,
            "indexed_at": iso_utc(indexed_at),
            "missing_since": iso_utc(missing_since),
            "image": None,
            "captions": [],
            "variants": [],
            "embedded": None,
        }
        if image_id is None:
            return result
        _image_details(connection, result, file_id, image_id)
        if embedded_at is not None:
            result["embedded"] = {"where": embedded_where, "at": iso_utc(embedded_at),
                                  "caption_id": embedded_caption_id}
    return result


def _image_details(connection: ReadConnection, result: dict[str, Any], file_id: int, image_id: int) -> None:
    """The picture's captions (the current one's fields at the top), variants and other files."""
    image = connection.execute("SELECT id, width, height, pixel_hash, caption_id FROM images WHERE id = ?",
                               (image_id,)).fetchone()
    result["image"] = {"id": image[0], "width": image[1], "height": image[2], "pixel_hash": image[3]}
    all_captions = [
        {"id": row[0], "alt_text": row[1], "raw_caption": row[2], "description": row[3], "source": row[4],
         "status": row[5], "model": row[6], "model_revision": row[7],
         "params": as_json(row[8], connection.dialect), "created_at": iso_utc(row[9])}
        for row in connection.execute(_CAPTIONS, (image_id,))
    ]
    result["captions"] = all_captions
    current = next((caption for caption in all_captions if caption["id"] == image[4]), None)
    if current is not None:
        result.update({key: current[key] for key in ("alt_text", "raw_caption", "source", "status", "model",
                                                     "model_revision", "params")},
                      captioned_at=current["created_at"])
        # A person's edit has no description of its own: the newest model description still describes
        # the same picture (docs/architecture.md §13).
        result["description"] = next(
            (caption["description"] for caption in [current, *all_captions] if caption["description"]), None
        )
        result["variants"] = [
            {"text": text, "style": style, "model": llm_model, "created_at": iso_utc(created_at)}
            for text, style, llm_model, created_at in connection.execute(
                "SELECT text, style, llm_model, created_at FROM variants WHERE caption_id = ? ORDER BY id",
                (current["id"],))
        ]
    result["other_paths"] = [
        as_path(path) for (path,) in connection.execute(
            "SELECT path FROM files WHERE image_id = ? AND id != ? AND state != ? ORDER BY path",
            (image_id, file_id, MISSING))
    ]


def index_status(index: Index) -> dict[str, Any]:
    """Counts by state, images, captions by model, folders, the write-back backlog and the index's size."""
    by_state = file_state_counts(index)
    backlog = embed_backlog(index)
    with index.read_sql() as connection:
        image_count = connection.scalar("SELECT count(*) FROM images") or 0
        captioned = connection.scalar("SELECT count(*) FROM images WHERE caption_id IS NOT NULL") or 0
        root_rows = connection.execute("SELECT path, last_scan_at FROM roots ORDER BY path").fetchall()
        models = connection.execute(
            "SELECT model, count(*) FROM captions WHERE model IS NOT NULL GROUP BY model ORDER BY count(*) DESC"
        ).fetchall()
    return {
        "files": int(by_state.get(INDEXED, 0)),
        "images": int(image_count),
        "captioned": int(captioned),
        "pending": int(by_state.get(PENDING, 0)),
        "failed": int(by_state.get(FAILED, 0)),
        "missing": int(by_state.get(MISSING, 0)),
        "roots": [{"path": as_path(path), "last_scan_at": iso_utc(last_scan_at)} for path, last_scan_at in root_rows],
        "models": {model: int(count) for model, count in models},
        "embed_waiting": backlog.waiting,
        "embed_held": backlog.held,
        "index_path": index.path,
        "index_bytes": index.size_bytes(),
    }


def file_state_counts(index: Index) -> dict[str, int]:
    """How many files are in each state (indexed, pending, failed, missing)."""
    with index.read_sql() as connection:
        return {state: int(count) for state, count in
                connection.execute("SELECT state, count(*) FROM files GROUP BY state")}

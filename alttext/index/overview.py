"""What ``alttext status`` and ``alttext show`` say: counts over the whole index, and everything known
about one file. SQL text through ``Index.read_sql``, the same on both backends, so these commands start
without importing SQLAlchemy on SQLite (docs/architecture.md §6); values are converted as the column
types in models.py would (index/dbapi.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alttext.index.db import Index
from alttext.index.dbapi import ReadConnection, as_json, as_path, as_utc, bound_time, iso_utc
from alttext.index.embed_backlog import embed_backlog
from alttext.vocabulary import FAILED, INDEXED, MISSING, PENDING, WORKER_ACTIVE

_FILE = """
    SELECT id, path, state, error, size, indexed_at, missing_since, image_id, embedded_caption_id,
           embedded_where, embedded_at
    FROM files WHERE path = ?
"""
_CAPTIONS = """
    SELECT id, text, raw_text, description, image_text, source, status, model, model_revision, params, created_at
    FROM captions WHERE image_id = ? ORDER BY created_at DESC, id DESC
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
            "image_text": None,
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
        {"id": row[0], "alt_text": row[1], "raw_caption": row[2], "description": row[3], "image_text": row[4],
         "source": row[5], "status": row[6], "model": row[7], "model_revision": row[8],
         "params": as_json(row[9], connection.dialect), "created_at": iso_utc(row[10])}
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
        # The text in the picture is the picture's whoever wrote the alt text (§15): the same rule.
        result["image_text"] = next(
            (caption["image_text"] for caption in [current, *all_captions] if caption["image_text"]), None
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


@dataclass(frozen=True)
class WorkerRow:
    """A caption worker, as ``status`` shows it (docs/architecture.md §16)."""

    id: int
    host: str
    pid: int
    model: str | None
    state: str
    started_at: datetime
    last_seen: datetime
    lease_until: datetime
    files_done: int
    images_done: int
    holding: int  # pending files it holds now
    kinds: str = "captions"  # the work it takes (migration 0010)
    vectors_done: int = 0
    variants_done: int = 0

    @property
    def rate_per_minute(self) -> float:
        """Images through the model per minute over its life."""
        seconds = (self.last_seen - self.started_at).total_seconds()
        return round(self.images_done * 60 / seconds, 2) if seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "model": self.model, "state": self.state,
                "started_at": self.started_at.isoformat(), "last_seen": self.last_seen.isoformat(),
                "lease_until": self.lease_until.isoformat(), "files_done": self.files_done,
                "images_done": self.images_done, "rate_per_minute": self.rate_per_minute, "holding": self.holding,
                "kinds": self.kinds, "vectors_done": self.vectors_done, "variants_done": self.variants_done}


def worker_rows(index: Index, *, recent: timedelta = timedelta(days=1), limit: int = 200) -> list[WorkerRow]:
    """The active workers and those seen within ``recent``, newest first (at most ``limit``)."""
    since = bound_time(datetime.now(UTC) - recent, index.dialect)
    with index.read_sql() as connection:
        rows = connection.execute(
            "SELECT id, host, pid, model, state, started_at, last_seen, lease_until, files_done, images_done,"
            " kinds, vectors_done, variants_done"
            " FROM workers WHERE state = :active OR last_seen >= :since ORDER BY id DESC LIMIT :limit",
            {"active": WORKER_ACTIVE, "since": since, "limit": limit}).fetchall()
        active = [row[0] for row in rows if row[4] == WORKER_ACTIVE]
        holding: dict[int, int] = {}
        if active:
            holding = {int(owner): int(count) for owner, count in connection.execute(
                "SELECT lease_owner, count(*) FROM files WHERE state = ? AND lease_owner IN ("
                + ",".join("?" * len(active)) + ") GROUP BY lease_owner", (PENDING, *active))}
    return [WorkerRow(row[0], row[1], row[2], row[3], row[4], _utc(row[5]), _utc(row[6]), _utc(row[7]), row[8],
                      row[9], holding.get(row[0], 0), row[10], row[11], row[12]) for row in rows]


def _utc(value: str | datetime) -> datetime:
    moment = as_utc(value)
    assert moment is not None  # the workers' times are NOT NULL
    return moment


def claimed_count(index: Index) -> int:
    """Pending files some worker holds now."""
    with index.read_sql() as connection:
        return int(connection.scalar(
            "SELECT count(*) FROM files WHERE state = ? AND lease_owner IS NOT NULL", (PENDING,)) or 0)

"""A full scan: reconcile the folders with the index, then drain the queue of pending files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from alttext.index.capture_dates import fill_missing_capture_dates
from alttext.index.db import Index
from alttext.index.ingest import ExistingReader, Ingester, IngestReport
from alttext.index.models import PENDING, files
from alttext.index.reconcile import ReconcileReport, reconcile


@dataclass
class ScanSummary:
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    missing: int = 0
    restored: int = 0
    captioned: int = 0
    reused: int = 0
    imported: int = 0
    failed: int = 0  # failed in this scan
    held_back: int = 0  # failed before, MAX_ATTEMPTS times with the same file: not tried again, still failed
    vanished: int = 0
    deferred: int = 0
    model_calls: int = 0
    unreadable_dirs: list[str] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)  # links to folders, not followed
    errors: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def combine(cls, walk: ReconcileReport, ingest: IngestReport) -> ScanSummary:
        return cls(
            new=walk.new, changed=walk.changed, moved=walk.moved, unchanged=walk.unchanged,
            missing=walk.missing + ingest.vanished, restored=walk.restored, captioned=ingest.captioned,
            reused=ingest.reused, imported=ingest.imported, failed=ingest.failed, held_back=walk.held_back,
            vanished=ingest.vanished,
            deferred=ingest.deferred, model_calls=ingest.model_calls, unreadable_dirs=walk.unreadable_dirs,
            skipped_links=walk.skipped_links,
            errors=[{"path": path, "error": error} for path, error in ingest.errors],
        )

    @property
    def still_failed(self) -> int:
        """Files below the folders that are failed after this scan, as ``alttext status`` counts them."""
        return self.failed + self.held_back

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pending_count(index: Index) -> int:
    with index.read() as connection:
        return int(connection.execute(select(func.count()).where(files.c.state == PENDING)).scalar() or 0)


def scan(
    index: Index,
    folders: list[str],
    captioner_factory: Callable[[], Any],
    *,
    batch_size: int | None = None,
    max_pixels: int,
    read_existing: ExistingReader | None = None,
    progress: Callable[[str, int | None], Callable[[int], None]] | None = None,
    decode_threads: int = 2,
) -> ScanSummary:
    """``progress(label, total)`` returns an ``advance(n)`` callback (a progress bar), or None for quiet."""
    folders = [os.path.abspath(folder) for folder in folders]
    walk_report = reconcile(index, folders, progress("listing", None) if progress else None)
    ingester = Ingester(
        index, captioner_factory, batch_size=batch_size, max_pixels=max_pixels, read_existing=read_existing,
        workers=decode_threads, on_progress=progress("captioning", pending_count(index)) if progress else None,
    )
    summary = ScanSummary.combine(walk_report, ingester.run())
    fill_missing_capture_dates(index)  # files indexed before migration 0005: once, from their headers
    return summary

"""Draining the work queue: decode, fingerprint, caption only what is new, and store.

Pending files are read in id order. Decoding and hashing run in a thread pool ahead of the model.
A file whose pixels are already known re-uses that image's caption (no model call); text already in
the file's metadata is imported as a caption of source ``metadata``; everything else is batched
through the model. Each batch is one short write transaction, so an interrupt loses at most the batch
in flight, whose files are still ``pending`` and are picked up by the next run.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from alttext.alt_text import to_alt_text
from alttext.images import DEFAULT_MAX_PIXELS, ImageError
from alttext.index.captions import add_caption
from alttext.index.db import Index
from alttext.index.fingerprint import FileChanging, FileVanished, Fingerprint, fingerprint_file
from alttext.index.models import (
    FAILED,
    INDEXED,
    MISSING,
    PENDING,
    SOURCE_METADATA,
    SOURCE_MODEL,
    File,
    Image,
    inserted_id,
    utcnow,
)

if TYPE_CHECKING:
    from alttext.captioning.protocols import CaptionerFactory, CaptionModel

logger = logging.getLogger(__name__)

files = File.__table__
images = Image.__table__

CHUNK = 256  # pending rows read per query


@dataclass
class IngestReport:
    captioned: int = 0  # files captioned by the model
    reused: int = 0  # files whose pixels were already known
    imported: int = 0  # files whose own metadata gave the caption
    failed: int = 0
    vanished: int = 0
    deferred: int = 0  # changing while read; left pending
    model_calls: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Work:
    file_id: int
    path: str
    fingerprint: Fingerprint | None = None
    existing_text: str | None = None
    error: ImageError | None = None


@dataclass
class _Batch:
    """Distinct new images waiting for the model, each with the files that show it."""

    entries: dict[str, list[_Work]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def _stat_values(fingerprint: Fingerprint) -> dict[str, Any]:
    info = fingerprint.stat
    return {"dev": info.st_dev, "inode": info.st_ino, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _image_id_for(connection: Connection, fingerprint: Fingerprint) -> int:
    row = connection.execute(select(images.c.id).where(images.c.pixel_hash == fingerprint.pixel_hash)).first()
    if row:
        return int(row.id)
    return inserted_id(
        connection.execute(
            insert(images).values(
                pixel_hash=fingerprint.pixel_hash, width=fingerprint.width, height=fingerprint.height,
                created_at=utcnow(),
            )
        )
    )


def _fingerprinted(work: _Work) -> Fingerprint:
    assert work.fingerprint is not None  # stage 1 set it; only fingerprinted work reaches a batch
    return work.fingerprint


def _link(connection: Connection, work: _Work, image_id: int) -> None:
    assert work.fingerprint is not None
    connection.execute(
        update(files)
        .where(files.c.id == work.file_id)
        .values(image_id=image_id, state=INDEXED, error=None, attempts=0, indexed_at=utcnow(),
                missing_since=None, **_stat_values(work.fingerprint))
    )


class Ingester:
    def __init__(
        self,
        index: Index,
        captioner_factory: CaptionerFactory,
        *,
        batch_size: int = 8,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        workers: int = 2,
        read_existing: Callable[[str], str | None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        accept: Callable[[int, str], bool] | None = None,
    ) -> None:
        """``accept(file_id, path)``, when given, is asked before a pending file is read; a file it
        refuses stays pending for a later run (the watch daemon's settle check)."""
        self.index = index
        self._captioner_factory = captioner_factory
        self._captioner: CaptionModel | None = None
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.workers = workers
        self.read_existing = read_existing
        self.on_progress = on_progress or (lambda n: None)
        self.should_stop = should_stop or (lambda: False)
        self.accept = accept
        self.report = IngestReport()

    @property
    def captioner(self) -> CaptionModel:
        """Loaded on first need: a rescan with nothing new never loads the model."""
        if self._captioner is None:
            self._captioner = self._captioner_factory()
            self.batch_size = self._captioner.batch_size
        return self._captioner

    # -- stage 1: in worker threads ---------------------------------------------------------------
    def _prepare(self, work: _Work) -> _Work:
        try:
            work.fingerprint = fingerprint_file(work.path, max_pixels=self.max_pixels)
            if self.read_existing is not None:
                try:
                    work.existing_text = self.read_existing(work.path)
                except Exception:  # metadata is a bonus; a reader bug must not fail the file
                    logger.debug("reading metadata of %s failed", work.path, exc_info=True)
        except ImageError as exc:
            work.error = exc
        except Exception as exc:  # whatever else a decoder or hash raises is this file's failure, never the run's
            logger.debug("unexpected error reading %s", work.path, exc_info=True)
            work.error = ImageError(f"cannot read image: {' '.join(str(exc).split()) or type(exc).__name__}")
        return work

    # -- stage 2: in the calling thread -------------------------------------------------------------
    def _pending_rows(self, after_id: int) -> list[tuple[int, str]]:
        with self.index.read() as connection:
            return [
                (row.id, row.path)
                for row in connection.execute(
                    select(files.c.id, files.c.path)
                    .where(files.c.state == PENDING, files.c.id > after_id)
                    .order_by(files.c.id)
                    .limit(CHUNK)
                )
            ]

    def _record_failure(self, work: _Work) -> None:
        error = work.error
        assert error is not None
        message = str(error)
        with self.index.write() as connection:
            if isinstance(error, FileVanished):
                self.report.vanished += 1
                connection.execute(
                    update(files).where(files.c.id == work.file_id)
                    .values(state=MISSING, error=message, missing_since=utcnow())
                )
            elif isinstance(error, FileChanging):
                self.report.deferred += 1
                connection.execute(update(files).where(files.c.id == work.file_id).values(error=message))
            else:
                self.report.failed += 1
                self.report.errors.append((work.path, message))
                connection.execute(
                    update(files).where(files.c.id == work.file_id)
                    .values(state=FAILED, error=message, attempts=files.c.attempts + 1)
                )
        logger.info("%s: %s", work.path, message)

    def _handle(self, work: _Work, batch: _Batch) -> None:
        if work.error is not None:
            self._record_failure(work)
            self.on_progress(1)
            return
        fingerprint = work.fingerprint
        assert fingerprint is not None
        if fingerprint.pixel_hash in batch.entries:  # a duplicate of an image already waiting
            batch.entries[fingerprint.pixel_hash].append(work)
            return
        with self.index.read() as connection:
            known = connection.execute(
                select(images.c.id, images.c.caption_id).where(images.c.pixel_hash == fingerprint.pixel_hash)
            ).first()
        if known is not None and known.caption_id is not None:
            with self.index.write() as connection:
                _link(connection, work, known.id)
            self.report.reused += 1
            self.on_progress(1)
            return
        if work.existing_text:
            alt = to_alt_text(work.existing_text, max_length=10_000) or work.existing_text
            with self.index.write() as connection:
                image_id = _image_id_for(connection, fingerprint)
                add_caption(connection, image_id, text=alt, raw_text=work.existing_text, source=SOURCE_METADATA)
                _link(connection, work, image_id)
            self.report.imported += 1
            self.on_progress(1)
            return
        batch.entries[fingerprint.pixel_hash] = [work]
        if len(batch) >= self.batch_size:
            self._caption_batch(batch)

    def _caption_batch(self, batch: _Batch) -> None:
        if not batch.entries:
            return
        captioner = self.captioner
        groups = list(batch.entries.values())
        batch.entries = {}
        done = sum(len(group) for group in groups)
        try:
            prepared = [captioner.preprocess(_fingerprinted(group[0]).thumbnail) for group in groups]
            raw_captions = captioner.generate(prepared)
            self.report.model_calls += 1
        except Exception as exc:  # e.g. out of memory: record, keep going with the next batch
            logger.exception("captioning a batch failed")
            for group in groups:
                for work in group:
                    work.error = ImageError(f"captioning failed: {exc}")
                    self._record_failure(work)
            self.on_progress(done)
            return
        descriptions = self._describe(captioner, prepared) or [None] * len(groups)
        params = captioner.generation_params
        with self.index.write() as connection:
            for group, raw, description in zip(groups, raw_captions, descriptions, strict=True):
                alt = to_alt_text(raw)
                if not alt:
                    for work in group:
                        work.error = ImageError("the model produced no caption")
                    continue
                image_id = _image_id_for(connection, _fingerprinted(group[0]))
                current = connection.execute(select(images.c.caption_id).where(images.c.id == image_id)).scalar()
                if current is None:  # another process may have captioned it meanwhile
                    add_caption(
                        connection, image_id, text=alt, raw_text=raw, source=SOURCE_MODEL,
                        model=captioner.model_id, model_revision=captioner.revision, params=params,
                        description=description,
                    )
                for work in group:
                    _link(connection, work, image_id)
                    self.report.captioned += 1
        for group in groups:
            for work in group:
                if work.error is not None:
                    self._record_failure(work)
        self.on_progress(done)

    def _describe(self, captioner: CaptionModel, prepared: list[Any]) -> list[str | None] | None:
        """Long descriptions, where the captioner gives them; a failure here costs the descriptions, never
        the alt text already made (docs/architecture.md §10)."""
        try:
            return captioner.describe(prepared)
        except Exception:
            logger.exception("describing a batch failed; its alt text is kept")
            return None

    def run(self) -> IngestReport:
        batch = _Batch()
        window = max(self.batch_size * 3, 8)
        last_id = 0
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="alttext-ingest") as pool:
            in_flight: deque[Future[_Work]] = deque()
            rows: deque[tuple[int, str]] = deque()
            exhausted = False
            try:
                while True:
                    if self.should_stop():
                        break
                    while not exhausted and len(in_flight) < window:
                        if not rows:
                            fetched = self._pending_rows(last_id)
                            if not fetched:
                                exhausted = True
                                break
                            last_id = fetched[-1][0]
                            rows.extend(fetched)
                        file_id, path = rows.popleft()
                        if self.accept is not None and not self.accept(file_id, path):
                            continue
                        in_flight.append(pool.submit(self._prepare, _Work(file_id, path)))
                    if not in_flight:
                        break
                    self._handle(in_flight.popleft().result(), batch)
                if not self.should_stop():
                    self._caption_batch(batch)
            finally:
                for future in in_flight:
                    future.cancel()
        return self.report

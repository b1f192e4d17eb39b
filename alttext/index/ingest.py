"""Draining the work queue: decode, fingerprint, caption only what is new, and store.

Pending files are read in id order. Reading, hashing and decoding run in a thread pool ahead of the model.
A file whose image is already known (docs/architecture.md §2) re-uses that image's caption (no model
call, no decode); text already in the file's metadata is imported as a caption of source ``metadata``;
everything else is batched through the model. A RAW and the JPEG beside it under the same name are
captioned once and share the image (:mod:`.pairing`). Each batch is one short write transaction, so an
interrupt loses at most the batch in flight, whose files are still ``pending`` and are picked up by the
next run.

Where the pending rows come from is a :class:`PendingSource`: by default the unclaimed ones in id order
(``scan``, ``watch``); an ``alttext worker`` claims them under a lease instead (:mod:`.leases`), and then each
write keeps only the files the worker still holds (docs/architecture.md §16).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import SQLAlchemyError

from alttext.alt_text import to_alt_text
from alttext.captioning.protocols import CaptionFailure
from alttext.images import DEFAULT_MAX_PIXELS, ImageError
from alttext.index.captions import add_caption
from alttext.index.content_backfill import backfill_content_hashes, has_unkeyed_images
from alttext.index.db import Index
from alttext.index.fingerprint import FileChanging, FileVanished, Fingerprint, fingerprint_file, model_input
from alttext.index.image_keys import find_image, image_id_for, is_captioned
from alttext.index.leases import release_lapsed
from alttext.index.models import (
    FAILED,
    INDEXED,
    MISSING,
    PENDING,
    SOURCE_METADATA,
    SOURCE_MODEL,
    captions,
    files,
    images,
    utcnow,
)
from alttext.index.pairing import PairKey, captioned_partner_image, folder_has_raw, pair_key, partners
from alttext.metadata.capture_date import read_capture_date
from alttext.metadata.reading import FoundText
from alttext.text_in_image import fold_image_text
from alttext.vocabulary import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from alttext.captioning.protocols import CaptionerFactory, CaptionModel

logger = logging.getLogger(__name__)

# What a file's own metadata holds (index/writeback.existing_caption_reader): a person's alt text and long
# description, or the alt text alone as a string.
ExistingReader = Callable[[str], "str | FoundText | None"]

CHUNK = 256  # pending rows read per query
RAW_FOLDER_CACHE = 1024  # folders remembered as holding RAW files or not (pairing), per run


@dataclass
class IngestReport:
    captioned: int = 0  # files captioned by the model
    reused: int = 0  # files whose image was already known
    imported: int = 0  # files whose own metadata gave the caption
    failed: int = 0
    vanished: int = 0
    deferred: int = 0  # changing while read; left pending
    model_calls: int = 0
    lost: int = 0  # results not stored: the worker's lease on the file had passed to another (§16)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def linked(self) -> int:
        return self.captioned + self.reused + self.imported


class PendingSource(Protocol):
    """Where an ingest finds its work, and which of it a write may still store."""

    def fetch(self, want: int) -> list[tuple[int, str]]:
        """The next pending (file id, path) rows; ``want``: how many the ingest can start on now (a claim
        takes no more, a plain read may take more). [] when there are none."""
        ...

    def held(self, connection: Connection, file_ids: list[int]) -> set[int]:
        """Of ``file_ids``, those this run may store a result for, checked (and locked) inside the write
        transaction ``connection`` that stores it."""
        ...


class UnclaimedRows:
    """The pending files no worker has claimed, in id order (what ``scan`` and ``watch`` drain)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._last_id = 0

    def fetch(self, want: int) -> list[tuple[int, str]]:
        if self._last_id == 0:  # once a run: files of workers that stopped renewing their lease come back
            release_lapsed(self.index)
        with self.index.read() as connection:  # reading ahead is free: a chunk at a time
            rows = [
                (row.id, row.path)
                for row in connection.execute(
                    select(files.c.id, files.c.path)
                    .where(files.c.state == PENDING, files.c.lease_owner.is_(None), files.c.id > self._last_id)
                    .order_by(files.c.id)
                    .limit(max(want, CHUNK))
                )
            ]
        if rows:
            self._last_id = rows[-1][0]
        return rows

    def held(self, connection: Connection, file_ids: list[int]) -> set[int]:
        return set(file_ids)


@dataclass
class _Work:
    file_id: int
    path: str
    fingerprint: Fingerprint | None = None
    existing_text: str | None = None
    existing_description: str | None = None  # a person's long description in the file (ExtDescrAccessibility)
    error: ImageError | None = None
    taken_at: str | None = None  # None: not read (a failed file)


@dataclass
class _Batch:
    """Distinct new images waiting for the model, each with the files that show it."""

    entries: dict[str, list[_Work]] = field(default_factory=dict)
    # (folder, lower-case stem) of each waiting file -> its pair key and the entry it waits in
    waiting_names: dict[tuple[str, str], tuple[PairKey, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, image_key: str, work: _Work) -> None:
        self.entries.setdefault(image_key, []).append(work)
        key = pair_key(work.path)
        self.waiting_names.setdefault((key.folder, key.stem), (key, image_key))

    def partner_entry(self, path: str) -> str | None:
        """The entry (image key) in which a RAW/JPEG partner of ``path`` waits, if any."""
        key = pair_key(path)
        waiting = self.waiting_names.get((key.folder, key.stem))
        if waiting is None or not partners(key, waiting[0]) or waiting[1] not in self.entries:
            return None
        return waiting[1]

    def take_all(self) -> list[list[_Work]]:
        groups = list(self.entries.values())
        self.entries = {}
        self.waiting_names = {}
        return groups


def _stat_values(fingerprint: Fingerprint) -> dict[str, Any]:
    info = fingerprint.stat
    return {"dev": info.st_dev, "inode": info.st_ino, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _fingerprinted(work: _Work) -> Fingerprint:
    assert work.fingerprint is not None  # stage 1 set it; only fingerprinted work reaches a batch
    return work.fingerprint


def _link(connection: Connection, work: _Work, image_id: int) -> None:
    assert work.fingerprint is not None
    connection.execute(
        update(files)
        .where(files.c.id == work.file_id)
        .values(image_id=image_id, state=INDEXED, error=None, attempts=0, indexed_at=utcnow(),
                missing_since=None, taken_at=work.taken_at, lease_owner=None, **_stat_values(work.fingerprint))
    )


class Ingester:
    def __init__(
        self,
        index: Index,
        captioner_factory: CaptionerFactory,
        *,
        batch_size: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        workers: int = 2,
        read_existing: ExistingReader | None = None,
        on_progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        accept: Callable[[int, str], bool] | None = None,
        source: PendingSource | None = None,
        local_path: Callable[[str], str] | None = None,
    ) -> None:
        """``accept(file_id, path)``, when given, is asked before a pending file is read; a file it
        refuses stays pending for a later run (the watch daemon's settle check). ``source``: where the
        pending rows come from (default: the unclaimed ones). ``local_path``: where this machine reads a
        file the index names (a worker's path map; default: the same path). ``batch_size``: images per
        model call; the captioner's own (``Captioner`` picks one for its model when not told) from the
        moment it loads."""
        self.index = index
        self._captioner_factory = captioner_factory
        self._captioner: CaptionModel | None = None
        self._batch_size = batch_size if batch_size is not None else DEFAULT_BATCH_SIZE
        self.max_pixels = max_pixels
        self.workers = workers
        self.read_existing = read_existing
        self.on_progress = on_progress or (lambda n: None)
        self.should_stop = should_stop or (lambda: False)
        self.accept = accept
        self.source: PendingSource = source if source is not None else UnclaimedRows(index)
        self.local = local_path or (lambda path: path)
        self.report = IngestReport()
        self._raw_folders: dict[str, bool] = {}
        self._older_images = False  # images keyed by pixels only (docs/architecture.md §2, migration 0006)

    @property
    def captioner(self) -> CaptionModel:
        """Loaded on first need: a rescan with nothing new never loads the model."""
        if self._captioner is None:
            self._captioner = self._captioner_factory()
        return self._captioner

    @property
    def batch_size(self) -> int:
        """Images per model call: the captioner's once it is loaded (its own choice, or what fit after running
        out of memory), the one given (or the default) until then."""
        return self._captioner.batch_size if self._captioner is not None else self._batch_size

    # -- stage 1: in worker threads ---------------------------------------------------------------
    def _prepare(self, work: _Work) -> _Work:
        try:
            local = self.local(work.path)
            work.fingerprint = fingerprint_file(local, max_pixels=self.max_pixels, is_known=self._is_captioned,
                                                want_pixel_hash=self._older_images)
            work.taken_at = read_capture_date(local)  # the header again: no decode (§11)
            if self.read_existing is not None:
                try:
                    found = self.read_existing(local)
                    if isinstance(found, FoundText):
                        work.existing_text, work.existing_description = found.alt_text, found.description
                    else:
                        work.existing_text = found
                except Exception:  # metadata is a bonus; a reader bug must not fail the file
                    logger.debug("reading metadata of %s failed", work.path, exc_info=True)
        except ImageError as exc:
            work.error = exc
        except SQLAlchemyError:  # the index, not the file (a database restart): the run's problem, never the file's
            raise
        except Exception as exc:  # whatever else a decoder or hash raises is this file's failure, never the run's
            logger.debug("unexpected error reading %s", work.path, exc_info=True)
            work.error = ImageError(f"cannot read image: {' '.join(str(exc).split()) or type(exc).__name__}")
        return work

    def _is_captioned(self, content_hash: str) -> bool:
        with self.index.read() as connection:
            return is_captioned(connection, content_hash)

    # -- stage 2: in the calling thread -------------------------------------------------------------
    def _held(self, connection: Connection, works: list[_Work]) -> list[_Work]:
        """The works whose files this run may still store (all of them, unless a worker lost its lease)."""
        if not works:
            return works
        held = self.source.held(connection, [work.file_id for work in works])
        kept = [work for work in works if work.file_id in held]
        self.report.lost += len(works) - len(kept)
        return kept

    def _record_failure(self, work: _Work) -> None:
        error = work.error
        assert error is not None
        message = str(error)
        with self.index.write() as connection:
            if not self._held(connection, [work]):
                return
            if isinstance(error, FileVanished):
                self.report.vanished += 1
                connection.execute(
                    update(files).where(files.c.id == work.file_id)
                    .values(state=MISSING, error=message, missing_since=utcnow(), lease_owner=None)
                )
            elif isinstance(error, FileChanging):
                self.report.deferred += 1
                connection.execute(update(files).where(files.c.id == work.file_id)
                                   .values(error=message, lease_owner=None))
            else:
                self.report.failed += 1
                self.report.errors.append((work.path, message))
                connection.execute(
                    update(files).where(files.c.id == work.file_id)
                    .values(state=FAILED, error=message, attempts=files.c.attempts + 1, lease_owner=None)
                )
        logger.info("%s: %s", work.path, message)

    def _handle(self, work: _Work, batch: _Batch) -> None:
        if work.error is not None:
            self._record_failure(work)
            self.on_progress(1)
            return
        fingerprint = work.fingerprint
        assert fingerprint is not None
        if fingerprint.content_hash in batch.entries:  # a duplicate of an image already waiting
            batch.add(fingerprint.content_hash, work)
            return
        partner_image = None
        with self.index.read() as connection:  # one read for both lookups
            known = find_image(connection, fingerprint)
            if (known is None or known.caption_id is None) and self._may_have_partner(connection, work.path):
                partner_image = captioned_partner_image(connection, work.path)
        if known is not None and known.caption_id is not None:
            with self.index.write() as connection:
                if self._held(connection, [work]):
                    _link(connection, work, image_id_for(connection, fingerprint))  # keys an older image
                    self.report.reused += 1
            self.on_progress(1)
            return
        if partner_image is not None:
            self._join_partner(work, partner_image)
            return
        waiting_partner = batch.partner_entry(work.path)
        if waiting_partner is not None and not work.existing_text:
            batch.add(waiting_partner, work)  # captioned with its RAW/JPEG partner: one model call
            return
        if work.existing_text:
            alt = to_alt_text(work.existing_text, max_length=10_000) or work.existing_text
            # A partner waiting alone for the model takes this file's own text instead.
            joining = batch.entries.pop(waiting_partner, []) if waiting_partner is not None else []
            if len(joining) > 1:  # copies elsewhere wait in that entry too: leave it to the model
                batch.entries[waiting_partner or ""] = joining
                joining = []
            with self.index.write() as connection:
                held = self._held(connection, [work, *joining])
                if held:
                    image_id = image_id_for(connection, fingerprint)
                    add_caption(connection, image_id, text=alt, raw_text=work.existing_text,
                                source=SOURCE_METADATA, description=work.existing_description)
                    for each in held:
                        _link(connection, each, image_id)
            self.report.imported += len(held)
            self.on_progress(1 + len(joining))
            return
        batch.add(fingerprint.content_hash, work)
        # Loading the model (here at the latest) makes the batch size the captioner's, which may be larger.
        if len(batch) >= self.batch_size and len(batch) >= self.captioner.batch_size:
            self._caption_batch(batch)

    def _may_have_partner(self, connection: Connection, path: str) -> bool:
        """A RAW file always looks for its JPEG; another file only in a folder that holds RAW files."""
        key = pair_key(path)
        if key.is_raw:
            return True
        if key.folder not in self._raw_folders:
            if len(self._raw_folders) >= RAW_FOLDER_CACHE:
                self._raw_folders.clear()
            self._raw_folders[key.folder] = folder_has_raw(connection, key.folder)
        return self._raw_folders[key.folder]

    def _join_partner(self, work: _Work, image_id: int) -> None:
        """Link ``work`` to ``image_id``, the captioned image of its RAW/JPEG partner. Text found in this
        file's own metadata is added to that image, where it outranks a model caption (never a person's)."""
        imported = False
        with self.index.write() as connection:
            if not self._held(connection, [work]):
                self.on_progress(1)
                return
            if work.existing_text:
                alt = to_alt_text(work.existing_text, max_length=10_000) or work.existing_text
                known_texts = connection.execute(select(captions.c.text).where(captions.c.image_id == image_id))
                # The pair's own caption, written into this file by embed, is not new text.
                if not any(text.strip() in (alt.strip(), work.existing_text.strip()) for (text,) in known_texts):
                    add_caption(connection, image_id, text=alt, raw_text=work.existing_text,
                                source=SOURCE_METADATA, description=work.existing_description)
                    imported = True
            _link(connection, work, image_id)
        if imported:
            self.report.imported += 1
        else:
            self.report.reused += 1
        self.on_progress(1)

    def _model_input(self, work: _Work) -> PILImage:
        thumbnail = _fingerprinted(work).thumbnail
        # None only when the image had a caption as the file was read and has none now (a rare race)
        return thumbnail if thumbnail is not None else model_input(self.local(work.path), max_pixels=self.max_pixels)

    def _caption_batch(self, batch: _Batch) -> None:
        if not batch.entries:
            return
        captioner = self.captioner
        groups = batch.take_all()
        done = sum(len(group) for group in groups)
        try:
            prepared = [captioner.preprocess(self._model_input(group[0])) for group in groups]
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
        image_texts = self._read_text(captioner, prepared) or [None] * len(groups)
        params = captioner.generation_params
        with self.index.write() as connection:
            for group, raw, description, image_text in zip(groups, raw_captions, descriptions, image_texts,
                                                           strict=True):
                # Only the files still held: a worker that lost its lease stores nothing (§16).
                group[:] = self._held(connection, group)
                if not group:
                    continue
                if isinstance(raw, CaptionFailure):  # this image only (a remote call that failed for good)
                    for work in group:
                        work.error = ImageError(raw.message)
                    continue
                alt = to_alt_text(raw)
                if not alt:
                    for work in group:
                        work.error = ImageError("the model produced no caption")
                    continue
                image_id = image_id_for(connection, _fingerprinted(group[0]))
                current = connection.execute(select(images.c.caption_id).where(images.c.id == image_id)).scalar()
                # A person's description in the file wins over the model's (human text wins, §3); params say so.
                persons = next((work.existing_description for work in group if work.existing_description), None)
                if current is None:  # another process may have captioned it meanwhile
                    add_caption(
                        connection, image_id, text=fold_image_text(alt, image_text), raw_text=raw,
                        source=SOURCE_MODEL, model=captioner.model_id, model_revision=captioner.revision,
                        params={**params, "description_from": "metadata"} if persons else params,
                        description=persons or description, image_text=image_text,
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
        the alt text already made (docs/architecture.md §13)."""
        try:
            return captioner.describe(prepared)
        except Exception:
            logger.exception("describing a batch failed; its alt text is kept")
            return None

    def _read_text(self, captioner: CaptionModel, prepared: list[Any]) -> list[str | None] | None:
        """The text in each picture, where the captioner reads it; a failure costs that text only (§15)."""
        try:
            return captioner.read_text(prepared)
        except Exception:
            logger.exception("reading the text of a batch failed; its alt text is kept")
            return None

    def run(self) -> IngestReport:
        if has_unkeyed_images(self.index):  # an index made before migration 0006
            backfill_content_hashes(self.index, should_stop=self.should_stop)
            self._older_images = has_unkeyed_images(self.index)
        batch = _Batch()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="alttext-ingest") as pool:
            in_flight: deque[Future[_Work]] = deque()
            rows: deque[tuple[int, str]] = deque()
            exhausted = False
            try:
                while True:
                    if self.should_stop():
                        break
                    window = max(self.batch_size * 3, 8)  # the captioner's batch size once it loads
                    while not exhausted and len(in_flight) < window:
                        if not rows:
                            fetched = self.source.fetch(window)
                            if not fetched:
                                exhausted = True
                                break
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

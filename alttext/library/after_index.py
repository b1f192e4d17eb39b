"""What follows indexing, for ``scan`` and ``watch`` alike: one pipeline.

Once photos are indexed:

1. write-back (``--embed``): each file's current alt text goes into its own metadata, and the index
   records what was written where (so our own write never looks like a new photo);
2. sentence vectors for captions that have none, when the optional `semantic` extra is installed, so
   search by meaning finds them;
3. creative variants (``watch --variants``): a durable job per new model caption.

``scan`` runs it once, in the foreground, over its folders. ``watch`` runs it after its start-up scan,
after every round that indexed files and after every full scan, over its roots: write-back in the
writer thread (it must record its own writes before the next events are looked at), a time-boxed chunk
at a time, until its queue is empty; vectors and variants in background threads, so slow work never
holds up captioning. All the work is found from the index, not handed along (the write-back queue is
"current caption not written into the file yet"), so a run that was killed or stopped is simply picked
up by the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from alttext.index.db import Index
from alttext.index.queries import model_captions_since
from alttext.index.writeback import EmbedOptions, Target, embed_queue, embed_targets, write_roots
from alttext.search.encoder import semantic_available
from alttext.watch.background import BackgroundRunner

if TYPE_CHECKING:
    from alttext.library.results import Progress
    from alttext.metadata import EmbedResult
    from alttext.variants import VariantClient

logger = logging.getLogger(__name__)

VECTORS_IDLE_WAIT = 300.0  # also look for captions without vectors (edits, an interrupted run) this often
VARIANTS_IDLE_WAIT = 60.0  # look for due variants jobs (retries) at least this often
VARIANTS_BUDGET_PERIOD = 24 * 3600.0  # the daemon's request cap is a budget per day, not per process
EMBED_CHUNK = 500  # files of the write-back queue read at a time by the daemon (it comes back for more)

Embedded = Callable[[Target, "EmbedResult"], None]


@dataclass
class AfterIndexReport:
    embedded: list[tuple[Target, EmbedResult]] = field(default_factory=list)
    vectors: int = 0  # vectors computed in the foreground
    variants_queued: int = 0
    embed_left: bool = False  # the write-back stopped before the queue was empty (stop, time, chunk)

    @property
    def embed_failed(self) -> int:
        return sum(1 for _, result in self.embedded if not result.ok)


class AfterIndexing:
    """The pipeline. ``write_back``: embed with these options (None: don't). ``variants``: queue creative
    variants with this client (None: don't). ``background``: vectors and variants run in threads of their
    own between ``start()`` and ``stop()`` (the daemon); otherwise vectors are computed in ``run``."""

    def __init__(self, index: Index, *, roots: list[str] | None = None, write_back: EmbedOptions | None = None,
                 variants: VariantClient | None = None, variants_n: int = 3, variants_style: str = "catchy",
                 background: bool = False, on_embedded: Embedded | None = None,
                 progress: Progress | None = None) -> None:
        self.index = index
        self.progress = progress  # bars for the foreground work (a scan on a terminal)
        self.roots = roots
        self.write_back = write_back
        self.variants = variants
        self.variants_n = variants_n
        self.variants_style = variants_style
        self.background = background
        self.on_embedded = on_embedded
        self.vectors = semantic_available()
        self._budget_since = time.monotonic()
        self._runners: list[BackgroundRunner] = []
        if background and self.vectors:
            self._runners.append(BackgroundRunner("vectors", self._vectors_work, idle_wait=VECTORS_IDLE_WAIT))
        if background and variants is not None:
            self._runners.append(BackgroundRunner("variants", self._variants_work, idle_wait=VARIANTS_IDLE_WAIT,
                                                  on_stop=variants.close))

    # -- the daemon's side (alttext.watch.loop.AfterIndex) -------------------------------------------
    def start(self) -> None:
        for runner in self._runners:
            runner.start()

    def after_round(self, since: datetime, should_stop: Callable[[], bool]) -> bool:
        """One round's worth; True when write-back work is left for the next call."""
        return self.run(since=since, should_stop=should_stop).embed_left

    def stop(self) -> None:
        for runner in self._runners:
            runner.stop()

    # -- the pipeline ------------------------------------------------------------------------------
    def run(self, *, since: datetime | None = None, should_stop: Callable[[], bool] = lambda: False
            ) -> AfterIndexReport:
        """Everything that follows indexing, for the files below the roots: the whole write-back queue
        (whatever an earlier, interrupted run left too), and variants for the captions made since ``since``.

        The daemon (``background``) takes the queue a chunk at a time and leaves failed or skipped files
        to their retry time; a scan is a person asking, so it tries every file not embedded yet."""
        report = AfterIndexReport()
        if self.write_back is not None:
            limit = EMBED_CHUNK if self.background else None
            targets = embed_queue(self.index, under=self.roots, include_held=not self.background, limit=limit)
            done = 0
            advance = self.progress("embed", len(targets)) if self.progress else None
            for target, result in embed_targets(self.index, targets, self.write_back,
                                                within=write_roots(self.index, self.roots), should_stop=should_stop):
                done += 1
                if advance is not None:
                    advance(1)
                report.embedded.append((target, result))
                if self.on_embedded is not None:
                    self.on_embedded(target, result)
            report.embed_left = done < len(targets) or len(targets) == limit
        if self.variants is not None and since is not None:
            from alttext.index.variant_jobs import queue_variants

            caption_ids = model_captions_since(self.index, since)
            if caption_ids:
                queue_variants(self.index, caption_ids, self.variants_n, self.variants_style)
                report.variants_queued = len(caption_ids)
        if self.background:
            for runner in self._runners:
                runner.wake()
        elif self.vectors and not should_stop():
            report.vectors = compute_missing_vectors(self.index, self.progress)
        return report

    # -- background work -----------------------------------------------------------------------------
    # While active workers take vectors or variants (`alttext worker`, §16), the daemon leaves that kind to
    # them: they claim it under their leases, and one claimer per kind means no work computed twice. When
    # the last such worker stops or is lost, the next look (idle_wait at most) takes the work back.
    def _left_to_workers(self, kind: str) -> bool:
        from alttext.index.leases import active_worker_kinds

        if kind in active_worker_kinds(self.index):
            logger.debug("%s: left to the active workers", kind)
            return True
        return False

    def _vectors_work(self, should_stop: Callable[[], bool]) -> int:
        from alttext.index.leases import VECTORS
        from alttext.search.vectors import compute_pending_vectors

        if self._left_to_workers(VECTORS):
            return 0
        return compute_pending_vectors(self.index, should_stop=should_stop)

    def _variants_work(self, should_stop: Callable[[], bool]) -> int:
        from alttext.index.leases import VARIANTS
        from alttext.index.variant_jobs import process_variant_jobs

        assert self.variants is not None
        if self._left_to_workers(VARIANTS):
            return 0
        if time.monotonic() - self._budget_since > VARIANTS_BUDGET_PERIOD:
            self.variants.reset_request_count()
            self._budget_since = time.monotonic()
        return process_variant_jobs(self.index, self.variants, should_stop=should_stop).processed


def compute_missing_vectors(index: Index, progress: Progress | None = None) -> int:
    """Vectors for every current caption that has none (the encoder is loaded only when there are some)."""
    from alttext.search.encoder import MODEL_DIM, MODEL_NAME
    from alttext.search.vectors import compute_pending_vectors, vectors_pending

    pending = vectors_pending(index, MODEL_NAME, MODEL_DIM)
    if not pending:
        return 0
    return compute_pending_vectors(index, on_progress=progress("vectors", pending) if progress else None)

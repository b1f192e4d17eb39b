"""Work the daemon does after captioning, in threads of its own so captioning never waits for it.

Each runner has ``start()``, ``enqueue(caption_ids)`` (called by the writer thread after a round that
made new captions) and ``stop()``: the variants runner (:mod:`alttext.watch.variants`) and the semantic
vectors runner below. :class:`Fanout` hands every call to each of them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from alttext.index.db import Index

logger = logging.getLogger(__name__)

IDLE_WAIT = 300.0  # also look for captions without vectors (edits, an interrupted run) this often


class SemanticVectorsRunner:
    """Keeps sentence vectors (for ``search --semantic`` and fused ranking) in step with new captions."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alttext-vectors", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enqueue(self, caption_ids: list[int]) -> None:
        self._wake.set()  # the work list is "current captions without a vector": nothing to pass on

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)  # a batch in flight is committed or simply redone next time

    def _run(self) -> None:
        from alttext.search.vectors import compute_pending_vectors

        while not self._stop.is_set():
            try:
                stored = compute_pending_vectors(self.index, should_stop=self._stop.is_set)
                if stored:
                    logger.info("semantic search: %d new caption vector(s)", stored)
            except Exception:  # never let this affect captioning; the captions are simply picked up later
                logger.exception("computing caption vectors failed; trying again later")
            self._wake.wait(IDLE_WAIT)
            self._wake.clear()


class Fanout:
    """Several runners behind the one interface the daemon knows."""

    def __init__(self, runners: list[Any]) -> None:
        self.runners = runners

    def start(self) -> None:
        for runner in self.runners:
            runner.start()

    def enqueue(self, caption_ids: list[int]) -> None:
        for runner in self.runners:
            runner.enqueue(caption_ids)

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()

"""Work the daemon does after captioning, in threads of its own so captioning never waits for it.

One class serves every kind of such work (sentence vectors, creative variants): a thread that runs a
*work* function whenever it is woken, and at least every ``idle_wait`` seconds (to pick up retries and
anything an earlier run left). Work is durable in the index, so the runner passes nothing along: a wake
only means "look again". A failing run is logged and tried again later; it never reaches captioning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BackgroundRunner:
    """Runs ``work(should_stop)`` in a thread of its own; ``work`` returns how many items it did (for the
    log) and should return early once ``should_stop()`` is true."""

    def __init__(self, name: str, work: Callable[[Callable[[], bool]], int], *, idle_wait: float,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.name = name
        self.work = work
        self.idle_wait = idle_wait
        self.on_stop = on_stop
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"alttext-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)  # work in flight is committed, or simply redone next time
        if self.on_stop is not None:
            try:
                self.on_stop()
            except Exception:
                logger.debug("closing %s failed", self.name, exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.work(self._stop.is_set)
                if done:
                    logger.info("%s: %d done", self.name, done)
            except Exception:  # never let this affect captioning; the work stays queued in the index
                logger.exception("%s failed; trying again later", self.name)
            self._wake.wait(self.idle_wait)
            self._wake.clear()

"""``watch --variants``: creative variants in a background thread that never holds up captioning.

The writer thread only *queues* a variants job per new model caption (a short transaction, see
``alttext.index.variant_jobs``); this thread runs the due jobs (slow HTTP calls, retried with backoff by
the job queue) and writes their results in transactions of its own. Jobs are durable: after a restart
the queue is simply picked up again. The client's request cap (``variants_max_requests``) is a budget
per day here, not per process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from alttext.index.db import Index

logger = logging.getLogger(__name__)

IDLE_WAIT = 60.0  # look for due jobs (retries) at least this often
BUDGET_PERIOD = 24 * 3600.0


class VariantsRunner:
    def __init__(self, index: Index, client: Any, jobs_module: Any, *, n: int, style: str) -> None:
        self.index = index
        self.client = client
        self.jobs = jobs_module
        self.n = n
        self.style = style
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._budget_since = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="alttext-variants", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enqueue(self, caption_ids: list[int]) -> None:
        """Called by the writer thread after a round that produced new model captions."""
        with self.index.write() as connection:
            for caption_id in caption_ids:
                self.jobs.enqueue_variants(connection, caption_id, self.n, self.style)
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)  # an HTTP call in flight: its job's lease brings it back later
        try:
            self.client.close()
        except Exception:
            logger.debug("closing the variants client failed", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._budget_since > BUDGET_PERIOD:
                self.client.reset_request_count()
                self._budget_since = time.monotonic()
            try:
                counts = self.jobs.process_variant_jobs(self.index, self.client, should_stop=self._stop.is_set)
                if getattr(counts, "processed", 0):
                    logger.info("variants: %s", counts.as_dict() if hasattr(counts, "as_dict") else counts)
            except Exception:  # never let variants affect captioning; the jobs stay queued
                logger.exception("running variants jobs failed; trying again later")
            self._wake.wait(IDLE_WAIT)
            self._wake.clear()


def make_variants_runner(index: Index, settings: Any) -> VariantsRunner | None:
    """The runner for ``--variants``, or None (with one log line saying why) when it can't run."""
    try:
        from alttext.index import variant_jobs
    except ImportError:
        logger.warning("--variants: this build has no variants job queue (alttext.index.variant_jobs);"
                       " running without variants")
        return None
    from alttext.variants import MissingCredentials, VariantClient
    from alttext.variants.prompt import DEFAULT_N, DEFAULT_STYLE

    try:
        client = VariantClient.from_settings(settings)
    except MissingCredentials as exc:
        logger.warning("--variants: %s; running without variants", exc)
        return None
    return VariantsRunner(index, client, variant_jobs, n=DEFAULT_N, style=DEFAULT_STYLE)

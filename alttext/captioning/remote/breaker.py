"""Stop asking an endpoint that cannot be reached, for a while (a circuit breaker).

Each image retries a refused connection with backoff within its deadline: a few seconds per image. With
the server down, a scan of 100,000 photos would spend a day failing them one by one. After ``threshold``
images in a row found the endpoint unreachable, the next images fail at once, without a request, for
``cooldown`` seconds; then one image is let through to try again, and its outcome closes the breaker or
opens it for another ``cooldown``. The failed files stay in the queue (docs/architecture.md §14).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Breaker:
    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0  # images in a row that found the endpoint unreachable
        self._opened_at: float | None = None
        self._trial = False  # one image is trying while the breaker is open
        self._reason = ""

    def refusal(self) -> str | None:
        """None when a request may be sent now; else why not (the last unreachable error)."""
        with self._lock:
            if self._opened_at is None:
                return None
            if not self._trial and self._clock() - self._opened_at >= self.cooldown:
                self._trial = True  # this caller is the trial
                return None
            return self._reason

    def record(self, unreachable: str | None) -> None:
        """The outcome of one image's requests: the error when the endpoint could not be reached, else None."""
        with self._lock:
            if unreachable is None:
                self._failures, self._opened_at, self._trial = 0, None, False
                return
            self._failures += 1
            self._reason = unreachable
            if self._trial or self._failures >= self.threshold:
                self._opened_at, self._trial = self._clock(), False

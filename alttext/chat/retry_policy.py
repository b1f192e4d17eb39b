"""When to retry a chat call and how long to wait first.

Policy: retry connection errors, timeouts, 408, 429 and 5xx with exponential backoff and jitter;
never retry other 4xx (a bad request, key or model name does not get better by asking again) nor a
malformed reply. A ``Retry-After`` header (seconds or HTTP-date; also OpenAI's ``retry-after-ms``)
replaces the backoff for that wait; if the server asks for longer than ``retry_after_cap`` we do not
sleep that long inside a run — the call fails as transient and the job is retried in a later run.
Nor do we wait for a retry that could not start before the call's deadline (``limits``).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from alttext.backoff import backoff_seconds

from .errors import ChatCallError

RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx


def is_retry_status(status: int) -> bool:
    return status in RETRY_STATUSES or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it did not say (or said nonsense).

    ``headers`` must look names up case-insensitively (httpx headers do).
    """
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        # inf/nan are not a wait we can honour; treat them as "not said".
        return max(0.0, value) if math.isfinite(value) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = 0.5  # first backoff; doubles each retry
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0  # longest server-requested wait we sleep through inside a run

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")

    def should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, ChatCallError) or not exc.transient or exc.kind == "malformed":
            return False
        if exc.status is not None and not is_retry_status(exc.status):
            return False
        # A wait beyond the cap: give up now rather than block the run (or hammer the server early).
        return exc.retry_after is None or exc.retry_after <= self.retry_after_cap

    def wait_seconds(self, retry_number: int, exc: BaseException | None) -> float:
        """Wait before retry number ``retry_number`` (1 for the first retry)."""
        if isinstance(exc, ChatCallError) and exc.retry_after is not None:
            return self.longest_wait(retry_number, exc)
        # Jitter (75–100 %) keeps parallel clients from retrying in lock-step.
        return self.longest_wait(retry_number, exc) * (1 - 0.25 * random.random())

    def longest_wait(self, retry_number: int, exc: BaseException | None) -> float:
        """The most ``wait_seconds`` can return: a retry that can't start before the call's deadline
        is not worth waiting for."""
        if isinstance(exc, ChatCallError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        return backoff_seconds(retry_number, base=self.backoff_base, cap=self.backoff_max)


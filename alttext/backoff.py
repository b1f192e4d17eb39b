"""The one exponential backoff: how long to wait before trying again after ``attempt`` failures.

Used by retried files (base 1 min, x4), variants jobs (base 1 min, x2) and chat calls within a run
(base 0.5 s, x2, with jitter); each caller keeps its own numbers, the rule is this one.
"""

from __future__ import annotations


def backoff_seconds(attempt: int, *, base: float, cap: float, factor: float = 2.0) -> float:
    """``base`` after the first failure, times ``factor`` after each further one, never over ``cap``."""
    return min(cap, base * factor ** max(0, attempt - 1))

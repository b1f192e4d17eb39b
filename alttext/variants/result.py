"""What callers hand in and get back; plain data, no behaviour beyond a convenience property."""

from __future__ import annotations

from dataclasses import dataclass, field

from .prompt import DEFAULT_N, DEFAULT_STYLE


@dataclass(frozen=True)
class VariantRequest:
    caption: str
    n: int = DEFAULT_N
    style: str = DEFAULT_STYLE
    key: object = None  # the caller's handle (e.g. a caption id), echoed in the result


@dataclass(frozen=True)
class VariantResult:
    """``texts``: the clean variants, at most ``n`` (exactly ``n`` when ``ok``).
    ``model``: the model that answered (as the server names it; the configured one if no answer).
    ``requests_made``: HTTP requests spent, retries included. ``calls``: chat calls (a first call plus
    any top-ups), retries not counted.
    ``error``: None on success, else one redacted line; ``error_kind`` is its tag (``request_cap``,
    ``rate_limited``, ``server_error``, ``http_error``, ``timeout``, ``connection``, ``malformed``,
    ``too_large``, ``short`` — the model gave fewer usable variants than asked); ``transient`` says whether a later
    retry of the job may succeed. Partial ``texts`` can come with an error."""

    texts: list[str]
    model: str
    style: str
    requests_made: int
    error: str | None = None
    n: int = DEFAULT_N
    calls: int = 0
    error_kind: str | None = None
    transient: bool = False
    key: object = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

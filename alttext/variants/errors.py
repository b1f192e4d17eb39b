"""Errors of the variants layer.

Every message here is built by us from redacted parts: the API key never reaches an exception (the
openai client's own messages can quote the server's reply, and a misbehaving proxy may echo the
``Authorization`` header back).
"""

from __future__ import annotations

from alttext.redact import redact

__all__ = [
    "MissingCredentials",
    "RequestCapReached",
    "VariantCallError",
    "VariantError",
    "redact",
]


class VariantError(Exception):
    """Base class. ``kind`` is a short machine-readable tag; ``transient`` says whether trying again
    later (another run, the job queue) may succeed."""

    kind = "error"
    transient = False
    requests_made = 0  # HTTP requests spent before this error (set by the client)


class MissingCredentials(VariantError):
    """Neither an API key nor a base URL: there is nothing to talk to."""

    kind = "credentials"

    def __init__(self) -> None:
        super().__init__(
            "creative variants need an OpenAI API key (set OPENAI_API_KEY) "
            "or an OpenAI-compatible endpoint (set OPENAI_BASE_URL or openai_base_url)"
        )


class RequestCapReached(VariantError):
    """The per-run cap on chat requests is used up; no request was sent."""

    kind = "request_cap"
    transient = True  # the next run has a fresh budget

    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__(f"request cap reached: {cap} chat requests this run (setting variants_max_requests)")


class VariantCallError(VariantError):
    """One chat call failed after the retries allowed for it.

    ``kind`` is one of ``rate_limited``, ``server_error``, ``http_error``, ``timeout`` (also the call's
    deadline), ``connection``, ``malformed``, ``too_large`` (a reply over the size cap); ``status`` is
    the HTTP status where there was one; ``retry_after`` the server's requested wait in seconds, if it
    sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.transient = transient
        self.status = status
        self.retry_after = retry_after

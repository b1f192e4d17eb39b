"""Errors of one chat call.

Every message here is built by us from redacted parts: the API key never reaches an exception (the
openai client's own messages can quote the server's reply, and a misbehaving proxy may echo the
``Authorization`` header back).
"""

from __future__ import annotations


class ChatError(Exception):
    """Base class. ``kind`` is a short machine-readable tag; ``transient`` says whether trying again
    later (another run, a job queue) may succeed."""

    kind = "error"
    transient = False
    requests_made = 0  # HTTP requests spent before this error (set by the client)


class RequestCapReached(ChatError):
    """The per-run cap on chat requests is used up; no request was sent. ``setting`` names the cap."""

    kind = "request_cap"
    transient = True  # the next run has a fresh budget

    def __init__(self, cap: int, setting: str = "variants_max_requests") -> None:
        self.cap = cap
        super().__init__(f"request cap reached: {cap} chat requests this run (setting {setting})")


class ChatCallError(ChatError):
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

"""Two limits the HTTP client lacks: a wall-clock deadline for one chat call (connect, every read, every
retry and every wait between them) and a cap on the size of a reply, enforced while it streams in.

httpx2's timeouts are per operation: a server dripping one byte every few seconds never trips a read
timeout, a silent one costs the whole read timeout on every retry, and a non-streaming reply is read
into memory whatever its size. So, for the chat call running in this thread (``call_limits``):

- the request hook shrinks each request's connect/read/write/pool timeouts to the time left, asks for
  an uncompressed reply (so the bytes we count are the bytes we keep), and records the connection's
  socket through httpcore2's ``trace`` extension;
- a timer shuts that socket down when the deadline passes, which wakes a read blocked on it at once,
  however slowly the server drips;
- the response hook refuses a declared length over the cap and wraps the body stream so that reading
  stops as soon as it passes the cap (a lying or missing Content-Length changes nothing).

Keep-alive is off (``http_client``): a pooled connection is reused without a connect, so its socket
could not be recorded; a fresh connection per chat call costs little next to a model's answer.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

import httpx2

# Timeouts left within this much of the deadline count as the deadline's (socket timeouts are rounded).
_SLACK_SECONDS = 0.01


class DeadlinePassed(Exception):
    """The chat call's deadline passed (raised beneath the openai client, translated by ours)."""


class ReplyTooLarge(Exception):
    """The reply is longer than the cap; ``size`` is the declared length, if the server gave one."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__("reply too large")
        self.size = size


class CompressedReply(Exception):
    """A compressed reply although we asked for none: its decoded size could not be bounded."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"Content-Encoding {encoding}")
        self.encoding = encoding


class CallLimits:
    """The deadline and size cap of one chat call, and the sockets to cut when its time is up."""

    def __init__(self, seconds: float, max_reply_bytes: int) -> None:
        self.seconds = seconds
        self.max_reply_bytes = max_reply_bytes
        self._deadline = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = False

    def remaining(self) -> float:
        if self._cut:  # cut early (``ChatClient.cancel``) or at the deadline: no time for another try
            return 0.0
        return max(0.0, self._deadline - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._cut or time.monotonic() >= self._deadline - _SLACK_SECONDS

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` when the deadline passes (at once if it has)."""
        with self._lock:
            if not self._cut:
                self._sockets.append(sock)
                return
        _shut_down(sock)

    def cut(self) -> None:
        """The deadline passed: wake every read still waiting on this call's connections."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: ssl.SSLSocket.shutdown would unwrap it under
    # the reading thread's feet. A socket closed meanwhile has no descriptor left: nothing to do.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current: ContextVar[CallLimits | None] = ContextVar("alttext_chat_call_limits", default=None)


@contextmanager
def call_limits(seconds: float, max_reply_bytes: int) -> Iterator[CallLimits]:
    """The limits for the HTTP requests this thread makes inside the ``with`` block."""
    limits = CallLimits(seconds, max_reply_bytes)
    timer = threading.Timer(seconds, limits.cut)
    timer.daemon = True
    token = _current.set(limits)
    timer.start()
    try:
        yield limits
    finally:
        timer.cancel()
        _current.reset(token)


def http_client(**kwargs: Any) -> httpx2.Client:
    """An httpx2 client for the openai SDK that enforces the current ``call_limits``."""
    import openai

    return openai.DefaultHttpxClient(
        limits=httpx2.Limits(max_connections=100, max_keepalive_connections=0),
        event_hooks={"request": [_on_request], "response": [_on_response]},
        **kwargs,
    )


_SOCKET_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")


def _on_request(request: httpx2.Request) -> None:
    limits = _current.get()
    if limits is None:
        return
    request.headers["Accept-Encoding"] = "identity"
    left = limits.remaining()
    if left <= _SLACK_SECONDS:
        raise DeadlinePassed()
    timeouts = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
    request.extensions["timeout"] = {name: left if value is None else min(value, left)
                                     for name, value in timeouts.items()}
    request.extensions["trace"] = _socket_recorder(limits, request.extensions.get("trace"))


def _socket_recorder(limits: CallLimits, outer: Callable[[str, dict[str, Any]], Any] | None
                     ) -> Callable[[str, dict[str, Any]], Any]:
    def trace(event: str, info: dict[str, Any]) -> Any:
        if event in _SOCKET_EVENTS:
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                limits.watch(sock)
        return outer(event, info) if outer is not None else None

    return trace


def _on_response(response: httpx2.Response) -> None:
    limits = _current.get()
    if limits is None:
        return
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise CompressedReply(encoding)
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limits.max_reply_bytes:
        raise ReplyTooLarge(int(declared))
    if isinstance(response.stream, httpx2.SyncByteStream):  # always, on the sync client the SDK gets
        response.stream = _LimitedStream(response.stream, limits)


class _LimitedStream(httpx2.SyncByteStream):
    """A response body that stops past the size cap or the deadline, before keeping more."""

    def __init__(self, inner: httpx2.SyncByteStream, limits: CallLimits) -> None:
        self._inner = inner
        self._limits = limits

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limits.max_reply_bytes:
                raise ReplyTooLarge()
            if self._limits.expired:
                raise DeadlinePassed()
            yield chunk

    def close(self) -> None:
        self._inner.close()

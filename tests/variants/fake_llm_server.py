"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI chat-completions API for tests.

It runs in a background thread of the test process, on a free port (port 0), so the real ``openai``
client (or a subprocess running the installed ``alttext`` command) talks to it over real sockets.

API
---
``FakeLLMServer()``                start with ``.start()`` / ``.stop()`` or use it as a context manager.
``server.base_url``                ``"http://127.0.0.1:PORT/v1"``: pass it as ``base_url`` / ``OPENAI_BASE_URL``.
``server.script(*replies)``        queue replies; each request to ``POST /v1/chat/completions`` takes the
                                   next one. When the queue is empty, ``server.default`` answers
                                   (by default: ``Reply.ok("...three numbered captions...")``).
``server.requests``                every request received, in order, as ``RecordedRequest`` (``method``,
                                   ``path``, ``headers`` with lower-case names, ``json`` — the parsed
                                   body or None —, ``raw`` bytes, ``received_at`` from ``time.monotonic``).
``server.chat_requests``           only the ``POST .../chat/completions`` ones.
``server.request_count``           ``len(server.chat_requests)``.
``TEST_API_KEY``                   a key to pass to clients in tests that assert it never leaks.

A reply is a ``Reply`` or a callable ``(RecordedRequest) -> Reply`` (to answer from the request):

``Reply.ok(content, model=None)``            200 with a standard completion JSON (id, object, created,
                                             model — the request's model unless given —, choices[0].
                                             message.content, finish_reason, usage).
``Reply.error(status, message, headers={})`` an OpenAI-style error JSON (``{"error": {...}}``).
``Reply(status, body=..., headers=..., delay=...)``  anything else: ``body`` may be ``bytes``, ``str``
                                             or a JSON-able object (sent as JSON); ``delay`` seconds are
                                             waited before answering (the wait ends early on ``stop()``).

Hostile servers (every wait ends early on ``stop()``):

``Reply.ok(...).dripping(seconds)``          the whole response — status line, headers, body — one byte
                                             every ``seconds``: no per-read timeout ever fires.
``Reply.silent()``                           reads the request, then says nothing until ``stop()``.
``Reply.huge(size, framing="chunked")``      a 200 completion whose content is ``size`` bytes of "a",
                                             streamed in 64 KiB pieces from one buffer (never built in
                                             memory); ``framing`` is ``chunked``, ``length`` (an honest
                                             Content-Length) or ``close`` (no length: read until EOF).
                                             ``server.bytes_sent`` counts the body bytes that left.
``echo_authorization(status=200)``           a reply source that quotes the request's Authorization
                                             header back: as the content and the model name of a 200,
                                             or in the message of an error with ``status``; and in a
                                             response header either way.

Requests with ``"stream": true`` are answered 400 (the fake does not stream: it doubles as a check that
callers use the non-streaming path); unknown paths get 404 in OpenAI's error format.

Use from another test folder: ``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so
``from variants.fake_llm_server import FakeLLMServer, Reply, TEST_API_KEY`` works anywhere; re-export the
``fake_llm`` fixture below from a ``conftest.py`` (``from variants.fake_llm_server import fake_llm  #
noqa: F401``) or start a server yourself (``with FakeLLMServer() as server: ...``). The server is a real
socket, so a subprocess (the installed ``alttext`` command with ``OPENAI_BASE_URL=server.base_url``)
can use it too.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_CONTENT = "1. A first caption\n2. A second caption\n3. A third caption"
# A key for tests that check it never leaks; deliberately not "sk-…"-shaped, so that finding it
# redacted proves the client redacts *its* key, not just strings that look like OpenAI keys.
TEST_API_KEY = "alttext-test-key-7Qx9Zr2LmN"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    json: Any
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.json or {}).get("messages", []))


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip_every: float = 0.0  # seconds between bytes; 0: all at once
    never_answers: bool = False
    content_bytes: int = 0  # a huge reply: this many bytes of content, streamed from one buffer
    framing: str = "chunked"  # of a huge reply: chunked, length or close

    def dripping(self, seconds: float) -> Reply:
        return replace(self, drip_every=seconds)

    @classmethod
    def silent(cls) -> Reply:
        return cls(never_answers=True)

    @classmethod
    def huge(cls, size: int, framing: str = "chunked") -> Reply:
        if framing not in ("chunked", "length", "close"):
            raise ValueError(f"unknown framing {framing!r}")
        return cls(content_bytes=size, framing=framing)

    @classmethod
    def ok(cls, content: str | None, model: str | None = None, **kwargs: Any) -> Reply:
        # `model=None` means "echo the requested model", filled in when the request arrives.
        return cls(200, body=completion_body(content, model), **kwargs)

    @classmethod
    def error(
        cls, status: int, message: str = "error", headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Reply:
        body = {"error": {"message": message, "type": "fake_error", "param": None, "code": None}}
        return cls(status, body=body, headers=dict(headers or {}), **kwargs)


ReplySource = Reply | Callable[[RecordedRequest], Reply]


def echo_authorization(status: int = 200) -> Callable[[RecordedRequest], Reply]:
    """A server that quotes the credentials it was sent (a broken proxy, a hostile endpoint)."""

    def reply(request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization", "")
        headers = {"X-Echo-Authorization": auth}
        if status != 200:
            return Reply.error(status, f"bad credentials: you sent {auth}", headers=headers)
        content = f"1. Shapes, {auth}\n2. Your header was {auth}\n3. Authorization: {auth}"
        return Reply.ok(content, model=f"echo {auth}", headers=headers)

    return reply


def completion_body(content: str | None, model: str | None = None) -> dict[str, Any]:
    """The standard non-streaming chat-completion JSON."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class FakeLLMServer:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.bytes_sent = 0  # body bytes of huge replies that reached the socket
        self.default: ReplySource = Reply.ok(DEFAULT_CONTENT)
        self._queue: deque[ReplySource] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping through a `delay`
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration and inspection --------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: ReplySource) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def request_count(self) -> int:
        return len(self.chat_requests)

    # -- used by the handler -----------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _count_sent(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            source = self._queue.popleft() if self._queue else self.default
        return source(request) if callable(source) else source


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client's connection pool expects

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr noise in test output
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw=raw,
                json=parsed,
                received_at=time.monotonic(),
            )
            server._record(request)
            if self.command != "POST" or not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(Reply.error(404, f"fake server: no route {self.command} {self.path}"))
                return
            if isinstance(parsed, dict) and parsed.get("stream"):
                self._send(Reply.error(400, "fake server: streaming is not supported"))
                return
            reply = server._next_reply(request)
            if reply.delay and server._stopping.wait(reply.delay):
                return
            if reply.never_answers:
                self.close_connection = True
                server._stopping.wait()
                return
            if reply.content_bytes:
                self._send_huge(reply, request)
                return
            self._send(reply, request)

        def _send(self, reply: Reply, request: RecordedRequest | None = None) -> None:
            body = reply.body
            if isinstance(body, dict) and body.get("object") == "chat.completion" and body.get("model", "") is None:
                body = {**body, "model": (request.json or {}).get("model", "fake-model") if request else None}
            if isinstance(body, (dict, list)):
                data, ctype = json.dumps(body).encode(), "application/json"
            elif isinstance(body, str):
                data, ctype = body.encode(), "application/json"
            else:
                data, ctype = body or b"", "application/json"
            headers = {"Content-Type": ctype, **reply.headers, "Content-Length": str(len(data))}
            try:
                if reply.drip_every:
                    self._drip(self._head(reply.status, headers) + data, reply.drip_every)
                    return
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired): nothing to answer

        def _head(self, status: int, headers: dict[str, str]) -> bytes:
            lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        def _drip(self, data: bytes, seconds: float) -> None:
            self.close_connection = True
            for index in range(len(data)):
                self.wfile.write(data[index : index + 1])
                if server._stopping.wait(seconds):
                    return

        def _send_huge(self, reply: Reply, request: RecordedRequest) -> None:
            model = json.dumps((request.json or {}).get("model", "fake-model"))
            prefix = (
                '{"id": "chatcmpl-huge", "object": "chat.completion", "created": 0, "model": ' + model
                + ', "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "'
            ).encode()
            suffix = b'"}}]}'
            piece = b"a" * 65536  # the one buffer every piece of content is sent from
            headers = {"Content-Type": "application/json"}
            if reply.framing == "chunked":
                headers["Transfer-Encoding"] = "chunked"
            elif reply.framing == "length":
                headers["Content-Length"] = str(len(prefix) + reply.content_bytes + len(suffix))
            else:
                headers["Connection"] = "close"
            self.close_connection = True
            chunked = reply.framing == "chunked"

            def send(data: bytes) -> None:
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(data))
                self.wfile.write(data)
                if chunked:
                    self.wfile.write(b"\r\n")
                server._count_sent(len(data))

            try:
                self.wfile.write(self._head(200, headers))
                send(prefix)
                left = reply.content_bytes
                while left > 0 and not server._stopping.is_set():
                    send(piece if left >= len(piece) else piece[:left])
                    left -= len(piece)
                send(suffix)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should

    return Handler


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A started ``FakeLLMServer``, stopped after the test."""
    with FakeLLMServer() as server:
        yield server

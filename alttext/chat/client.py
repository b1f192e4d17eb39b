"""One non-streaming chat call to an OpenAI-compatible endpoint, through the official ``openai`` client,
with our own retries, a per-run request cap, a wall-clock deadline and a reply size cap per call
(``limits``), and errors and replies that never carry the key.

The creative variants (``alttext.variants``) and the remote captioner (``alttext.captioning.remote``)
both talk through ``ChatClient``; each names its own settings in the messages (``settings_prefix``).

The openai client's built-in retries are switched off (``max_retries=0``) because the cap must count
every HTTP request, retries included, and because its policy (e.g. sleeping through Retry-After up to
two minutes) is not ours; ``retry_policy.RetryPolicy`` decides instead, driven by tenacity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion
from tenacity import RetryCallState, Retrying, retry_if_exception

from alttext.redact import redact, url_secrets

from .errors import ChatCallError, ChatError, RequestCapReached
from .library_logs import redact_library_logs
from .limits import CallLimits, CompressedReply, DeadlinePassed, ReplyTooLarge, call_limits, http_client
from .retry_policy import RetryPolicy, is_retry_status, parse_retry_after

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local OpenAI-compatible servers (Ollama, llama.cpp, vLLM, LM Studio) ignore the key, but the openai
# client refuses to start without one.
PLACEHOLDER_KEY = "no-key-needed"
_SERVER_MESSAGE_CHARS = 200
DEFAULT_DEADLINE = 60.0  # seconds for one chat call, retries included
# A chat reply is a few kilobytes; 1 MiB leaves room for chatty servers.
DEFAULT_MAX_REPLY_BYTES = 1024 * 1024

# One message as the chat API takes it: {"role": ..., "content": text or a list of parts (text, image_url)}.
Message = Mapping[str, Any]
_R = TypeVar("_R")


@dataclass(frozen=True)
class Completion:
    text: str | None  # the reply's content; None when the server sent none
    model: str
    finish_reason: str | None
    requests: int  # HTTP requests this call took, retries included
    refusal: str | None = None  # the server's refusal message (OpenAI's ``message.refusal``), if it sent one


class ChatClient:
    """A chat-completions client. Thread-safe; one instance per run (the request cap counts per instance
    — ``reset_request_count()`` starts a new budget)."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        *,
        timeout: float = 30.0,
        deadline: float = DEFAULT_DEADLINE,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_retries: int = 3,
        max_requests: int | None = 200,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        temperature: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        settings_prefix: str = "variants",
    ) -> None:
        """``settings_prefix`` names the settings an error points at (``PREFIX_deadline``,
        ``PREFIX_max_reply_bytes``, ``PREFIX_max_requests``) and tags the retry log lines."""
        base_url = (base_url or "").strip() or None
        api_key = (api_key or "").strip() or None
        if not deadline > 0 or max_reply_bytes < 1:
            raise ValueError("deadline and max_reply_bytes must be positive")
        # The key, and what a URL may carry (a password, a token): replaced wherever a reply echoes them.
        self._secrets = (api_key, *url_secrets(base_url))
        redact_library_logs(self._secrets)
        self.base_url = base_url or OPENAI_BASE_URL
        self.model = model
        self.timeout = timeout
        self.deadline = deadline
        self.max_reply_bytes = max_reply_bytes
        self.max_requests = max_requests
        self.temperature = temperature
        self.settings_prefix = settings_prefix
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max, retry_after_cap)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._requests_made = 0
        self._in_flight: set[CallLimits] = set()
        # An explicit base_url keeps the client from reading OPENAI_BASE_URL itself: config decides.
        self._openai = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or PLACEHOLDER_KEY,
            timeout=timeout,
            max_retries=0,
            http_client=http_client(),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.where!r}, model={self.model!r}, "
            f"requests_made={self.requests_made}, max_requests={self.max_requests})"
        )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._openai.close()

    @property
    def where(self) -> str:
        """The endpoint, fit to print: no key, password or token in it."""
        return redact(self.base_url, self._secrets)

    def redact(self, text: str) -> str:
        """``text`` without this client's secrets (or anything shaped like one)."""
        return redact(text, self._secrets)

    # -- request budget ----------------------------------------------------------------------------
    @property
    def requests_made(self) -> int:
        with self._lock:
            return self._requests_made

    @property
    def cap_reached(self) -> bool:
        with self._lock:
            return self.max_requests is not None and self._requests_made >= self.max_requests

    def reset_request_count(self) -> None:
        with self._lock:
            self._requests_made = 0

    def _take_request_slot(self) -> None:
        with self._lock:
            if self.max_requests is not None and self._requests_made >= self.max_requests:
                raise RequestCapReached(self.max_requests, f"{self.settings_prefix}_max_requests")
            self._requests_made += 1

    # -- one chat call -----------------------------------------------------------------------------
    def complete(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, deadline: float | None = None
    ) -> Completion:
        """One chat completion, retried per ``self.policy``, all within ``deadline`` seconds (default
        ``self.deadline``) and ``self.max_reply_bytes`` per reply. Raises ``ChatError`` subclasses
        (``RequestCapReached``, ``ChatCallError``), each with ``requests_made`` set."""
        attempts = 0
        seconds = self.deadline if deadline is None else deadline
        if seconds <= 0:  # the caller's time is already spent (an image's deadline): not one request
            raise self._deadline_error()
        with call_limits(seconds, self.max_reply_bytes) as limits:
            with self._lock:
                self._in_flight.add(limits)

            def attempt() -> Completion:
                nonlocal attempts
                self._take_request_slot()
                attempts += 1
                completion = self._send_once(messages, max_tokens, limits)
                return Completion(completion.text, completion.model, completion.finish_reason, attempts,
                                  completion.refusal)

            def stop(state: RetryCallState) -> bool:
                """Out of tries, or out of time for the next one (its wait included)."""
                if state.attempt_number > self.policy.max_retries:
                    return True
                exc = state.outcome.exception() if state.outcome else None
                return limits.remaining() <= self.policy.longest_wait(state.attempt_number, exc)

            retrying = Retrying(
                stop=stop,
                retry=retry_if_exception(self.policy.should_retry),
                wait=self._wait,
                sleep=self._sleep,
                before_sleep=self._log_retry,
                reraise=True,
            )
            try:
                return retrying(attempt)
            except ChatError as exc:
                exc.requests_made = attempts
                raise
            finally:
                with self._lock:
                    self._in_flight.discard(limits)

    def cancel(self) -> None:
        """End every call in flight now (from any thread): their sockets are shut, and each ends with the
        deadline's error, without another try. Calls made afterwards are not affected."""
        with self._lock:
            in_flight = list(self._in_flight)
        for limits in in_flight:
            limits.cut()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.policy.wait_seconds(state.attempt_number, exc)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s; retry %d of %d in %.1f s", self.settings_prefix, exc, state.attempt_number,
            self.policy.max_retries, wait,
        )

    def _send_once(self, messages: Sequence[Message], max_tokens: int | None, limits: CallLimits) -> Completion:
        optional: dict[str, Any] = {}  # sent only when set; otherwise the server's defaults apply
        if self.temperature is not None:
            optional["temperature"] = self.temperature
        if max_tokens:
            optional["max_tokens"] = max_tokens
        response = self._guarded(
            lambda: self._openai.chat.completions.create(
                model=self.model,
                messages=list(messages),  # type: ignore[arg-type]  # plain role/content dicts, not the SDK TypedDicts
                stream=False,
                **optional,
            ),
            limits,
        )
        return self._read_completion(response)

    def list_models(self, *, deadline: float = 10.0) -> list[str]:
        """The model names the endpoint lists (``GET /models``), in one request within ``deadline`` seconds,
        not counted against the request cap. Raises ``ChatCallError`` (a server without the route: 404)."""
        with call_limits(deadline, self.max_reply_bytes) as limits:
            page = self._guarded(lambda: self._openai.models.list(), limits)
        names = [getattr(model, "id", None) for model in getattr(page, "data", None) or []]
        return [self.redact(name) for name in names if isinstance(name, str)]

    def _guarded(self, request: Callable[[], _R], limits: CallLimits) -> _R:
        """``request()`` with every failure of the HTTP layer as a ``ChatCallError`` that holds no secret."""
        error: ChatCallError | None = None
        try:
            return request()
        except DeadlinePassed:
            error = self._deadline_error()
        except ReplyTooLarge as exc:
            size = f" ({exc.size} bytes)" if exc.size is not None else ""
            error = ChatCallError(
                f"reply from {self.where} is larger than {self.max_reply_bytes} bytes{size} "
                f"(setting {self.settings_prefix}_max_reply_bytes)",
                kind="too_large",
                transient=False,
            )
        except CompressedReply as exc:
            error = ChatCallError(
                f"malformed reply from {self.where}: compressed ({exc.encoding}) although none was asked for",
                kind="malformed",
                transient=False,
            )
        except openai.OpenAIError as exc:
            # A read cut short by the deadline surfaces as a connection error or a timeout: say why.
            error = self._deadline_error() if limits.expired else self._translate(exc)
        except (ValueError, TypeError) as exc:  # a 200 whose body is not JSON / not the right shape
            error = ChatCallError(
                f"malformed reply from {self.where}: {type(exc).__name__}", kind="malformed", transient=False
            )
        # Raised outside the except blocks so the openai exception (whose text can quote the server's
        # reply, and whose request holds the Authorization header) is not chained as __context__.
        raise error

    def _read_completion(self, response: object) -> Completion:
        choices = getattr(response, "choices", None) if isinstance(response, ChatCompletion) else None
        message = getattr(choices[0], "message", None) if choices else None
        content = getattr(message, "content", None)
        if not choices or message is None or not (content is None or isinstance(content, str)):
            raise ChatCallError(
                f"malformed reply from {self.where}: no choices[0].message.content",
                kind="malformed",
                transient=False,
            )
        assert isinstance(response, ChatCompletion)
        model = response.model if isinstance(response.model, str) and response.model else self.model
        refusal = getattr(message, "refusal", None)
        # What the server says goes into the index and onto screens: an echo of the key must not.
        text = self.redact(content) if content is not None else None
        return Completion(text, self.redact(model), getattr(choices[0], "finish_reason", None), 1,
                          self.redact(refusal) if isinstance(refusal, str) and refusal.strip() else None)

    def _deadline_error(self) -> ChatCallError:
        return ChatCallError(
            f"no complete reply from {self.where} within {self.deadline:g} s"
            f" (setting {self.settings_prefix}_deadline)",
            kind="timeout",
            transient=True,
        )

    def _translate(self, exc: openai.OpenAIError) -> ChatCallError:
        where = self.where
        if isinstance(exc, openai.APITimeoutError):
            return ChatCallError(
                f"chat request to {where} timed out after {self.timeout:g} s", kind="timeout", transient=True
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = self.redact(str(cause))[:_SERVER_MESSAGE_CHARS] if cause else ""
            return ChatCallError(
                f"cannot reach {where}" + (f": {detail}" if detail else ""), kind="connection", transient=True
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retry_after = parse_retry_after(exc.response.headers)
            text = f"HTTP {status} from {where}"
            server_message = _server_message(exc.body)
            if server_message:
                text += ": " + self.redact(server_message)[:_SERVER_MESSAGE_CHARS]
            if retry_after is not None:
                text += f" (Retry-After {retry_after:g} s)"
            if status == 429:
                kind = "rate_limited"
            elif status >= 500:
                kind = "server_error"
            else:
                kind = "http_error"
            return ChatCallError(
                text, kind=kind, transient=is_retry_status(status), status=status, retry_after=retry_after
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return ChatCallError(f"malformed reply from {where}", kind="malformed", transient=False)
        return ChatCallError(
            f"chat request to {where} failed: {type(exc).__name__}", kind="error", transient=False
        )


def _server_message(body: object) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            inner = inner.get("message")
        if isinstance(inner, str):
            return " ".join(inner.split())
    if isinstance(body, str):
        return " ".join(body.split())
    return ""

"""The HTTP side: one non-streaming chat call through the official ``openai`` client, with our own
retries, a per-run request cap, a wall-clock deadline and a reply size cap per call (``limits``), and
errors and replies that never carry the key.

The openai client's built-in retries are switched off (``max_retries=0``) because the cap must count
every HTTP request, retries included, and because its policy (e.g. sleeping through Retry-After up to
two minutes) is not ours; ``retry.RetryPolicy`` decides instead, driven by tenacity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from openai.types.chat import ChatCompletion
from tenacity import RetryCallState, Retrying, retry_if_exception

from alttext.redact import url_secrets

from .errors import MissingCredentials, RequestCapReached, VariantCallError, VariantError, redact
from .generate import generate
from .library_logs import redact_library_logs
from .limits import CallLimits, CompressedReply, DeadlinePassed, ReplyTooLarge, call_limits, http_client
from .prompt import DEFAULT_N, DEFAULT_STYLE, Message
from .result import VariantRequest, VariantResult
from .retry_policy import RetryPolicy, is_retry_status, parse_retry_after

if TYPE_CHECKING:
    from alttext.config import Settings

log = logging.getLogger(__name__)

DEFAULT_CHAT_MODEL = "gpt-3.5-turbo"
OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local OpenAI-compatible servers (Ollama, llama.cpp, vLLM, LM Studio) ignore the key, but the openai
# client refuses to start without one.
PLACEHOLDER_KEY = "no-key-needed"
_SERVER_MESSAGE_CHARS = 200
DEFAULT_DEADLINE = 60.0  # seconds for one chat call, retries included (setting variants_deadline)
# A chat reply is a few kilobytes; 1 MiB leaves room for chatty servers (setting variants_max_reply_bytes).
DEFAULT_MAX_REPLY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Completion:
    text: str | None  # the reply's content; None when the server sent none
    model: str
    finish_reason: str | None
    requests: int  # HTTP requests this call took, retries included


class VariantClient:
    """A chat-completions client for creative variants. Thread-safe; one instance per run (the
    request cap counts per instance — ``reset_request_count()`` starts a new budget)."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str = DEFAULT_CHAT_MODEL,
        *,
        timeout: float = 30.0,
        deadline: float = DEFAULT_DEADLINE,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_retries: int = 3,
        max_requests: int | None = 200,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        max_calls_per_caption: int = 3,
        temperature: float | None = 0.9,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = (base_url or "").strip() or None
        api_key = (api_key or "").strip() or None
        if base_url is None and api_key is None:
            raise MissingCredentials()
        if max_calls_per_caption < 1:
            raise ValueError("max_calls_per_caption must be >= 1")
        if not deadline > 0 or max_reply_bytes < 1:
            raise ValueError("deadline and max_reply_bytes must be positive")
        # The key, and what a URL may carry (a password, a token): replaced wherever a reply echoes them.
        self._secrets = (api_key, *url_secrets(base_url))
        redact_library_logs(self._secrets)
        self.base_url = base_url or OPENAI_BASE_URL
        self.model = model or DEFAULT_CHAT_MODEL
        self.timeout = timeout
        self.deadline = deadline
        self.max_reply_bytes = max_reply_bytes
        self.max_requests = max_requests
        self.max_calls_per_caption = max_calls_per_caption
        self.temperature = temperature
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max, retry_after_cap)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._requests_made = 0
        # An explicit base_url keeps the client from reading OPENAI_BASE_URL itself: config decides.
        self._openai = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or PLACEHOLDER_KEY,
            timeout=timeout,
            max_retries=0,
            http_client=http_client(),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> VariantClient:
        """Built from ``alttext.config.Settings`` (openai_base_url, openai_api_key, openai_model,
        variants_max_requests, variants_deadline, variants_max_reply_bytes); ``kwargs`` override any."""
        options: dict[str, Any] = {
            "max_requests": settings.variants_max_requests,
            "deadline": settings.variants_deadline,
            "max_reply_bytes": settings.variants_max_reply_bytes,
            **kwargs,
        }
        return cls(settings.openai_base_url, settings.openai_api_key, settings.openai_model, **options)

    def __repr__(self) -> str:
        return (
            f"VariantClient(base_url={redact(self.base_url)!r}, model={self.model!r}, "
            f"requests_made={self.requests_made}, max_requests={self.max_requests})"
        )

    def __enter__(self) -> VariantClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._openai.close()

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
                raise RequestCapReached(self.max_requests)
            self._requests_made += 1

    # -- the high-level API ------------------------------------------------------------------------
    def generate(self, request: VariantRequest) -> VariantResult:
        """Variants for one caption; never raises for call failures (see ``VariantResult.error``)."""
        return generate(self, request)

    def generate_variants(
        self, caption: str, n: int = DEFAULT_N, style: str = DEFAULT_STYLE
    ) -> VariantResult:
        return generate(self, VariantRequest(caption, n, style))

    # -- one chat call -----------------------------------------------------------------------------
    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Completion:
        """One chat completion, retried per ``self.policy``, all within ``self.deadline`` seconds and
        ``self.max_reply_bytes`` per reply. Raises ``VariantError`` subclasses (``RequestCapReached``,
        ``VariantCallError``), each with ``requests_made`` set."""
        attempts = 0
        with call_limits(self.deadline, self.max_reply_bytes) as limits:

            def attempt() -> Completion:
                nonlocal attempts
                self._take_request_slot()
                attempts += 1
                completion = self._send_once(messages, max_tokens, limits)
                return Completion(completion.text, completion.model, completion.finish_reason, attempts)

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
            except VariantError as exc:
                exc.requests_made = attempts
                raise

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.policy.wait_seconds(state.attempt_number, exc)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "variants: %s; retry %d of %d in %.1f s", exc, state.attempt_number, self.policy.max_retries, wait
        )

    def _send_once(self, messages: Sequence[Message], max_tokens: int | None, limits: CallLimits) -> Completion:
        error: VariantCallError | None = None
        response: object = None
        optional: dict[str, Any] = {}  # sent only when set; otherwise the server's defaults apply
        if self.temperature is not None:
            optional["temperature"] = self.temperature
        if max_tokens:
            optional["max_tokens"] = max_tokens
        try:
            response = self._openai.chat.completions.create(
                model=self.model,
                messages=list(messages),  # type: ignore[arg-type]  # plain role/content dicts, not the SDK TypedDicts
                stream=False,
                **optional,
            )
        except DeadlinePassed:
            error = self._deadline_error()
        except ReplyTooLarge as exc:
            size = f" ({exc.size} bytes)" if exc.size is not None else ""
            error = VariantCallError(
                f"reply from {self._where()} is larger than {self.max_reply_bytes} bytes{size} "
                "(setting variants_max_reply_bytes)",
                kind="too_large",
                transient=False,
            )
        except CompressedReply as exc:
            error = VariantCallError(
                f"malformed reply from {self._where()}: compressed ({exc.encoding}) although none was asked for",
                kind="malformed",
                transient=False,
            )
        except openai.OpenAIError as exc:
            # A read cut short by the deadline surfaces as a connection error or a timeout: say why.
            error = self._deadline_error() if limits.expired else self._translate(exc)
        except (ValueError, TypeError) as exc:  # a 200 whose body is not JSON / not the right shape
            error = VariantCallError(
                f"malformed reply from {self._where()}: {type(exc).__name__}", kind="malformed", transient=False
            )
        # Raised outside the except blocks so the openai exception (whose text can quote the server's
        # reply, and whose request holds the Authorization header) is not chained as __context__.
        if error is not None:
            raise error
        return self._read_completion(response)

    def _read_completion(self, response: object) -> Completion:
        choices = getattr(response, "choices", None) if isinstance(response, ChatCompletion) else None
        message = getattr(choices[0], "message", None) if choices else None
        content = getattr(message, "content", None)
        if not choices or message is None or not (content is None or isinstance(content, str)):
            raise VariantCallError(
                f"malformed reply from {self._where()}: no choices[0].message.content",
                kind="malformed",
                transient=False,
            )
        assert isinstance(response, ChatCompletion)
        model = response.model if isinstance(response.model, str) and response.model else self.model
        # What the server says goes into the index and onto screens: an echo of the key must not.
        text = redact(content, self._secrets) if content is not None else None
        return Completion(text, redact(model, self._secrets), getattr(choices[0], "finish_reason", None), 1)

    def _where(self) -> str:
        return redact(self.base_url, self._secrets)

    def _deadline_error(self) -> VariantCallError:
        return VariantCallError(
            f"no complete reply from {self._where()} within {self.deadline:g} s (setting variants_deadline)",
            kind="timeout",
            transient=True,
        )

    def _translate(self, exc: openai.OpenAIError) -> VariantCallError:
        where = self._where()
        if isinstance(exc, openai.APITimeoutError):
            return VariantCallError(
                f"chat request to {where} timed out after {self.timeout:g} s", kind="timeout", transient=True
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = redact(str(cause), self._secrets)[:_SERVER_MESSAGE_CHARS] if cause else ""
            return VariantCallError(
                f"cannot reach {where}" + (f": {detail}" if detail else ""), kind="connection", transient=True
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retry_after = parse_retry_after(exc.response.headers)
            text = f"HTTP {status} from {where}"
            server_message = _server_message(exc.body)
            if server_message:
                text += ": " + redact(server_message, self._secrets)[:_SERVER_MESSAGE_CHARS]
            if retry_after is not None:
                text += f" (Retry-After {retry_after:g} s)"
            if status == 429:
                kind = "rate_limited"
            elif status >= 500:
                kind = "server_error"
            else:
                kind = "http_error"
            return VariantCallError(
                text, kind=kind, transient=is_retry_status(status), status=status, retry_after=retry_after
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return VariantCallError(f"malformed reply from {where}", kind="malformed", transient=False)
        return VariantCallError(
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

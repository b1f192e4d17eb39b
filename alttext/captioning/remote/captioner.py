"""``RemoteCaptioner``: alt text (and long descriptions) from a vision model behind an OpenAI-compatible
chat endpoint — Ollama, vLLM, LM Studio, llama.cpp's server, OpenAI (docs/architecture.md §14).

``--model openai:NAME`` picks it; ``caption_endpoint`` says where (Ollama on this machine by default) and
``ALTTEXT_CAPTION_API_KEY`` the key, if the server wants one. It meets ``CaptionModel`` like a local
model, so ``caption``, ``scan`` and ``watch`` use it unchanged: ``preprocess`` turns each image into a
≤ 1024 px JPEG data URL (in the decode pool), ``generate`` sends a batch ``caption_concurrency`` images at
a time. Each image has one deadline (``caption_deadline``) for all its requests (the alt text's, the
description's and, with ``read_text``, the text in it), retries and their waits included; the HTTP side
(retries with jittered backoff honouring Retry-After, the reply size cap, the per-run request cap,
redaction of the key) is ``alttext.chat``'s.
Whatever goes wrong with one image is that image's ``CaptionFailure``: nothing raises out of ``generate``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from alttext.captioning.families import (
    DESCRIPTION_MAX_NEW_TOKENS,
    IMAGE_TEXT_MAX_NEW_TOKENS,
    PROMPTED_MAX_NEW_TOKENS,
    clean_description,
    clean_image_text,
)
from alttext.captioning.families.chat_vlm import ALT_TEXT_PROMPT, DESCRIPTION_PROMPT, TEXT_PROMPT
from alttext.captioning.protocols import CaptionFailure
from alttext.captioning.remote.breaker import Breaker
from alttext.captioning.remote.image import JPEG_QUALITY, MAX_SIDE, RemoteImage, encode_image
from alttext.captioning.remote.replies import ReplyUnusable, reply_text
from alttext.captioning.stream import CaptionOutcome, caption_stream
from alttext.chat import ChatClient, ChatError, Message
from alttext.redact import redact
from alttext.vocabulary import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:
    from PIL import Image

    from alttext.config import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
_R = TypeVar("_R")

REMOTE_PREFIX = "openai:"
PROBE_SECONDS = 5.0  # the endpoint check at start: a host that drops packets costs this, once
BREAKER_COOLDOWN = 30.0
_ERROR_CHARS = 300


def is_remote_model(ref: str) -> bool:
    """``openai:NAME``: a model behind an OpenAI-compatible endpoint, not a hub id or a folder."""
    return ref.strip().lower().startswith(REMOTE_PREFIX)


def public_endpoint(url: str) -> str:
    """The endpoint as stored with each caption: scheme, host, port and path; never a user, password,
    query or fragment (a token can hide in any of them)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redact(url)
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path.rstrip("/"), "", ""))


class RemoteCaptioner:
    """Captions through an OpenAI-compatible vision endpoint; see the module's docstring."""

    input_side = MAX_SIDE  # the library decodes JPEGs at draft scale down to this

    def __init__(
        self,
        model_ref: str,
        *,
        endpoint: str,
        api_key: str | None = None,
        concurrency: int = 4,
        deadline: float = 120.0,
        max_requests: int | None = None,
        max_reply_bytes: int = 256 * 1024,
        batch_size: int = DEFAULT_BATCH_SIZE,
        prompt: str | None = None,
        describe: bool = False,
        read_text: bool = False,
        max_tokens: int | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        name = model_ref.strip()[len(REMOTE_PREFIX):].strip() if is_remote_model(model_ref) else model_ref.strip()
        if not name:
            raise ValueError("--model openai:NAME needs the endpoint's model name, e.g. openai:llava")
        if not (endpoint or "").strip():
            raise ValueError("caption_endpoint is empty: set it to the server's OpenAI-compatible URL (…/v1)")
        if concurrency < 1 or batch_size < 1:
            raise ValueError("caption_concurrency and batch size must be at least 1")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max tokens must be at least 1")
        self.name = name
        self.endpoint = public_endpoint(endpoint)
        self.concurrency = concurrency
        self.deadline = deadline
        self.batch_size = max(batch_size, concurrency)  # a batch must keep every connection busy
        self._prompt = prompt or ALT_TEXT_PROMPT
        self.describes = describe
        self.reads_text = read_text  # a third prompt per image: the text in it, verbatim (§15)
        self.max_tokens = max_tokens or PROMPTED_MAX_NEW_TOKENS
        self.client = ChatClient(
            endpoint, api_key, name, timeout=deadline, deadline=deadline, max_reply_bytes=max_reply_bytes,
            max_retries=max_retries, max_requests=max_requests, backoff_base=backoff_base,
            backoff_max=backoff_max, retry_after_cap=deadline, sleep=sleep, settings_prefix="caption",
        )
        self.breaker = Breaker(threshold=concurrency * 2, cooldown=BREAKER_COOLDOWN)
        self._served_model: str | None = None
        self._stopping = False
        self.calls = 0  # generate() calls, as the local Captioner counts them

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> RemoteCaptioner:
        options: dict[str, Any] = {
            "endpoint": settings.caption_endpoint,
            "api_key": settings.caption_api_key,
            "concurrency": settings.caption_concurrency,
            "deadline": settings.caption_deadline,
            "max_requests": settings.caption_max_requests,
            "max_reply_bytes": settings.caption_max_reply_bytes,
            "batch_size": settings.batch_size or DEFAULT_BATCH_SIZE,
            "prompt": settings.caption_prompt,
            "describe": settings.describe,
            "read_text": settings.read_text,
            "max_tokens": settings.max_tokens,
            **kwargs,
        }
        return cls(settings.model, **options)

    def __repr__(self) -> str:
        return f"RemoteCaptioner(model={self.model_id!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        self.client.close()

    # -- provenance ----------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return REMOTE_PREFIX + self.name

    @property
    def revision(self) -> str | None:
        """The model the server says answered, when it names it otherwise (OpenAI: a dated snapshot)."""
        served = self._served_model
        return served if served and served != self.name else None

    @property
    def prompt(self) -> str:
        return self._prompt

    @property
    def generation_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "endpoint": self.endpoint, "max_tokens": self.max_tokens, "image_max_side": MAX_SIDE,
            "jpeg_quality": JPEG_QUALITY, "prompt": self._prompt,
        }
        if self.describes:
            params["description_prompt"] = DESCRIPTION_PROMPT
            params["description_max_tokens"] = DESCRIPTION_MAX_NEW_TOKENS
        if self.reads_text:
            params["text_prompt"] = TEXT_PROMPT
            params["text_max_tokens"] = IMAGE_TEXT_MAX_NEW_TOKENS
        return params

    # -- the endpoint --------------------------------------------------------------------------
    def check_endpoint(self) -> None:
        """Say at start, in the log, when the endpoint can't be reached or doesn't list the model. Never
        fatal: a server that is restarting will answer later, and one without ``/models`` may caption."""
        try:
            names = self.client.list_models(deadline=PROBE_SECONDS)
        except ChatError as exc:
            if getattr(exc, "status", None) in (404, 405, 501):  # no /models route: nothing to learn
                return
            logger.warning("caption endpoint: %s; images fail until it answers", exc)
            return
        except Exception as exc:  # never let a check stop the run
            logger.debug("checking the caption endpoint failed: %s", type(exc).__name__)
            return
        if names and self.name not in names and f"{self.name}:latest" not in names:
            shown = ", ".join(sorted(names)[:10]) + (" …" if len(names) > 10 else "")
            logger.warning("caption endpoint %s does not list model %r (it lists: %s)", self.endpoint, self.name,
                           shown)

    # -- captioning ----------------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> RemoteImage:
        return encode_image(image)

    def generate(self, batch: Sequence[Any]) -> list[str | CaptionFailure]:
        """Alt text for each image of ``batch`` (and, with ``describe``, its description, kept for
        ``describe``), ``caption_concurrency`` images at a time; a failed image is a ``CaptionFailure``."""
        images = [_remote_image(item) for item in batch]
        self.calls += 1
        self._stopping = False
        return self._each(self._caption_one, images)

    def cancel(self) -> None:
        """Stop the batch in flight (from any thread): requests are cut, images not yet asked fail at once.
        ``generate`` does it itself when interrupted (Ctrl-C), so it never waits out a deadline."""
        self._stopping = True
        self.client.cancel()

    def _each(self, work: Callable[[RemoteImage], _R], images: list[RemoteImage]) -> list[_R]:
        if not images:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(images)), thread_name_prefix="alttext-remote")
        try:
            return list(pool.map(work, images))
        except BaseException:  # KeyboardInterrupt: the threads must not keep the process waiting
            self.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    def read_text(self, batch: Sequence[Any]) -> list[str | None] | None:
        """The text ``generate`` read in each image with its alt text (asked now for an image it did not
        see); None for an image without text or whose reading failed, and None when ``read_text`` is off."""
        if not self.reads_text:
            return None
        images = [_remote_image(item) for item in batch]
        self._each(self._read_one, [image for image in images if not image.text_read and not image.alt_failed])
        return [image.image_text for image in images]

    def describe(self, batch: Sequence[Any]) -> list[str | None] | None:
        """The descriptions ``generate`` fetched with the alt text (asked now for an image it did not see);
        None for an image without one, and None when ``describe`` is off."""
        if not self.describes:
            return None
        images = [_remote_image(item) for item in batch]
        self._each(self._describe_one, [image for image in images if not image.described and not image.alt_failed])
        return [image.description for image in images]

    def caption_stream(
        self, items: Iterable[T], load: Callable[[T], Image.Image], *, workers: int = 2
    ) -> Iterator[CaptionOutcome[T]]:
        return caption_stream(self, items, load, workers=workers)

    # -- one image -----------------------------------------------------------------------------
    def _caption_one(self, image: RemoteImage) -> str | CaptionFailure:
        try:
            text = self._ask(image, self._prompt, self.max_tokens)
        except Exception as exc:  # whatever it is, it is this image's, never the batch's
            image.alt_failed = True
            return CaptionFailure(self._message(exc))
        if self.describes:
            self._describe_one(image)
        if self.reads_text:
            self._read_one(image)
        return text

    def _describe_one(self, image: RemoteImage) -> None:
        image.described = True
        image.description = self._ask_extra(image, DESCRIPTION_PROMPT, DESCRIPTION_MAX_NEW_TOKENS,
                                            clean_description, "description")

    def _read_one(self, image: RemoteImage) -> None:
        image.text_read = True
        image.image_text = self._ask_extra(image, TEXT_PROMPT, IMAGE_TEXT_MAX_NEW_TOKENS, clean_image_text,
                                          "text read")

    def _ask_extra(self, image: RemoteImage, prompt: str, max_tokens: int, clean: Callable[[str], str | None],
                   what: str) -> str | None:
        """A text beside the alt text (the description, the text in the picture), cleaned; None when the
        request failed: the alt text stands without it (docs/architecture.md §13, §15)."""
        try:
            return clean(self._ask(image, prompt, max_tokens))
        except Exception as exc:
            logger.info("no %s for an image from %s: %s", what, self.endpoint, self._message(exc))
            return None

    def _ask(self, image: RemoteImage, prompt: str, max_tokens: int) -> str:
        """The reply's text, or an exception that says why there is none."""
        if image.deadline_at is None:
            image.deadline_at = time.monotonic() + self.deadline
        if self._stopping:
            raise _NotAsked("not asked: captioning was stopped")
        refused = self.breaker.refusal()
        if refused is not None:
            raise _NotAsked(f"not asked: the endpoint could not be reached moments ago ({refused})")
        try:
            completion = self.client.complete(
                _messages(prompt, image), max_tokens=max_tokens, deadline=image.deadline_at - time.monotonic()
            )
        except ChatError as exc:
            self.breaker.record(str(exc) if exc.kind == "connection" else None)
            raise
        self.breaker.record(None)
        self._served_model = completion.model
        return reply_text(completion)

    def _message(self, exc: BaseException) -> str:
        """One line for an image's error: ours say it all; anything else is named, its text redacted."""
        if isinstance(exc, ChatError):
            text = str(exc)
            if exc.requests_made > 1:
                text += f" ({exc.requests_made} requests)"
        elif isinstance(exc, (ReplyUnusable, _NotAsked)):
            text = str(exc)
        else:
            logger.debug("caption request failed", exc_info=True)
            detail = " ".join(str(exc).split())
            text = f"caption request to {self.client.where} failed: {type(exc).__name__}" + (
                f": {detail}" if detail else "")
        text = self.client.redact(text)
        return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + "…"


class _NotAsked(Exception):
    """The breaker is open: no request was sent for this image."""


def _remote_image(item: Any) -> RemoteImage:
    if not isinstance(item, RemoteImage):
        raise TypeError(f"RemoteCaptioner takes what its preprocess() made, not {type(item).__name__}")
    return item


def _messages(prompt: str, image: RemoteImage) -> list[Message]:
    """One user turn: the prompt, then the picture (the order OpenAI's and Ollama's examples use)."""
    return [{
        "role": "user",
        "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image.data_url}},
        ],
    }]

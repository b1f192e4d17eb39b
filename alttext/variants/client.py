"""The variants' chat client: ``alttext.chat.ChatClient`` with the variants settings, a default model and
temperature, and the prompt → call → parse loop (``generate``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alttext.chat.client import DEFAULT_DEADLINE, DEFAULT_MAX_REPLY_BYTES, ChatClient, Completion

from .errors import MissingCredentials
from .generate import generate
from .prompt import DEFAULT_N, DEFAULT_STYLE
from .result import VariantRequest, VariantResult

if TYPE_CHECKING:
    from alttext.config import Settings

__all__ = ["DEFAULT_CHAT_MODEL", "Completion", "VariantClient"]

DEFAULT_CHAT_MODEL = "gpt-3.5-turbo"


class VariantClient(ChatClient):
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
        if not (base_url or "").strip() and not (api_key or "").strip():
            raise MissingCredentials()
        if max_calls_per_caption < 1:
            raise ValueError("max_calls_per_caption must be >= 1")
        super().__init__(
            base_url, api_key, model or DEFAULT_CHAT_MODEL, timeout=timeout, deadline=deadline,
            max_reply_bytes=max_reply_bytes, max_retries=max_retries, max_requests=max_requests,
            backoff_base=backoff_base, backoff_max=backoff_max, retry_after_cap=retry_after_cap,
            temperature=temperature, sleep=sleep, settings_prefix="variants",
        )
        self.max_calls_per_caption = max_calls_per_caption

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

    def __enter__(self) -> VariantClient:
        return self

    # -- the high-level API ------------------------------------------------------------------------
    def generate(self, request: VariantRequest) -> VariantResult:
        """Variants for one caption; never raises for call failures (see ``VariantResult.error``)."""
        return generate(self, request)

    def generate_variants(
        self, caption: str, n: int = DEFAULT_N, style: str = DEFAULT_STYLE
    ) -> VariantResult:
        return generate(self, VariantRequest(caption, n, style))

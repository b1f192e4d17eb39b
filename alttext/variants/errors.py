"""Errors of the variants layer: those of a chat call (``alttext.chat.errors``), under the names the
variants API has always used, and the one only variants can raise (nothing configured to talk to).
"""

from __future__ import annotations

from alttext.chat.errors import ChatCallError, ChatError, RequestCapReached
from alttext.redact import redact

__all__ = [
    "MissingCredentials",
    "RequestCapReached",
    "VariantCallError",
    "VariantError",
    "redact",
]

VariantError = ChatError
VariantCallError = ChatCallError


class MissingCredentials(ChatError):
    """Neither an API key nor a base URL: there is nothing to talk to."""

    kind = "credentials"

    def __init__(self) -> None:
        super().__init__(
            "creative variants need an OpenAI API key (set OPENAI_API_KEY) "
            "or an OpenAI-compatible endpoint (set OPENAI_BASE_URL or openai_base_url)"
        )

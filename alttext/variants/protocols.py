"""What the variants job queue and the daemon need from a chat client, as a structural type.

``VariantClient`` (``alttext.variants.client``) is the real one; tests pass small fakes. The index
(layer 2) types against ``ChatVariantsClient`` without importing the OpenAI SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .prompt import DEFAULT_N, DEFAULT_STYLE

if TYPE_CHECKING:
    from .result import VariantResult


class ChatVariantsClient(Protocol):
    """Makes caption variants with a per-run request budget."""

    @property
    def model(self) -> str:
        """The configured chat model."""
        ...

    @property
    def requests_made(self) -> int:
        """HTTP requests spent since the budget was last reset."""
        ...

    @property
    def cap_reached(self) -> bool:
        """True once the request budget is spent; callers stop asking."""
        ...

    def generate_variants(self, caption: str, n: int = DEFAULT_N, style: str = DEFAULT_STYLE) -> VariantResult:
        """Variants for one caption; call failures come back in ``VariantResult.error``, never raised.
        Raises ``ValueError`` for a request no call can satisfy (bad ``n`` or ``style``)."""
        ...

    def reset_request_count(self) -> None:
        """Start a fresh request budget (the daemon does, once per run)."""
        ...

    def close(self) -> None:
        """Release the HTTP connection pool."""
        ...

"""Prompt → call → parse, with bounded top-up calls when the model gives fewer variants than asked.

A short answer is common (the model merges lines, adds chatter, repeats itself). Asking again for just
the missing ones, with the ones we have listed as "already written", usually completes the set; the
number of calls per caption is bounded (``VariantClient.max_calls_per_caption``, 3 by default) so a
model that never cooperates costs at most that many calls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import VariantError
from .parse import parse_variants
from .prompt import MAX_N, build_messages, normalise_style
from .result import VariantRequest, VariantResult

if TYPE_CHECKING:
    from .client import VariantClient

# Room for n lines of ~200 characters (~60 tokens each) plus whatever chatter the model adds.
_TOKENS_PER_VARIANT = 80
_TOKENS_OVERHEAD = 100


def generate(client: VariantClient, request: VariantRequest) -> VariantResult:
    """Up to ``request.n`` variants; exactly ``n`` when the model cooperates. Failures come back in the
    result (``error``, ``error_kind``, ``transient``), never as exceptions; a bad ``n`` or ``style``
    is a caller bug and raises ``ValueError``."""
    if not 1 <= request.n <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N}")
    style = normalise_style(request.style)
    texts: list[str] = []
    model = client.model
    requests = calls = 0
    error: VariantError | None = None
    while calls < client.max_calls_per_caption and len(texts) < request.n:
        need = request.n - len(texts)
        messages = build_messages(request.caption, need, style, avoid=texts)
        calls += 1
        try:
            completion = client.complete(messages, max_tokens=_TOKENS_OVERHEAD + need * _TOKENS_PER_VARIANT)
        except VariantError as exc:
            requests += exc.requests_made
            error = exc
            break
        requests += completion.requests
        model = completion.model
        texts += parse_variants(
            completion.text,
            need,
            exclude=[request.caption, *texts],
            truncated=completion.finish_reason == "length",
        )
    result = VariantResult(texts, model=model, style=style, requests_made=requests, n=request.n, calls=calls,
                           key=request.key)
    if error is not None:
        return replace(result, error=str(error), error_kind=error.kind, transient=error.transient)
    if len(texts) < request.n:
        return replace(
            result,
            error=f"the model gave {len(texts)} of {request.n} usable variants in {calls} call(s)",
            error_kind="short",
            transient=True,
        )
    return result

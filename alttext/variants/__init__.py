"""Creative caption variants from an OpenAI-compatible chat model (optional; kept apart from alt text).

Typical use::

    client = VariantClient.from_settings(settings)          # MissingCredentials if nothing configured
    result = client.generate(VariantRequest(caption, n=3, style="catchy"))
    if result.ok: store(result.texts, result.model, result.style)
    else: record_failure(result.error, retry_later=result.transient)

``plan_dry_run(captions, n, style)`` shows the prompts and call counts without a key.
"""

from alttext.chat.retry_policy import RetryPolicy, parse_retry_after

from .client import DEFAULT_CHAT_MODEL, Completion, VariantClient
from .errors import MissingCredentials, RequestCapReached, VariantCallError, VariantError, redact
from .parse import parse_variants, shorten
from .prompt import STYLES, DryRunPlan, PlannedCall, build_messages, normalise_style, plan_dry_run
from .result import VariantRequest, VariantResult

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "STYLES",
    "Completion",
    "DryRunPlan",
    "MissingCredentials",
    "PlannedCall",
    "RequestCapReached",
    "RetryPolicy",
    "VariantCallError",
    "VariantClient",
    "VariantError",
    "VariantRequest",
    "VariantResult",
    "build_messages",
    "normalise_style",
    "parse_retry_after",
    "parse_variants",
    "plan_dry_run",
    "redact",
    "shorten",
]

"""Calls to an OpenAI-compatible chat endpoint: one non-streaming completion with retries, a request cap,
a deadline, a reply size cap, and the key kept out of every error, reply and log line.

Shared by the creative variants (``alttext.variants``) and the remote captioner
(``alttext.captioning.remote``); each brings its own prompts and settings.
"""

from .client import ChatClient, Completion, Message
from .errors import ChatCallError, ChatError, RequestCapReached
from .retry_policy import RetryPolicy, parse_retry_after

__all__ = [
    "ChatCallError",
    "ChatClient",
    "ChatError",
    "Completion",
    "Message",
    "RequestCapReached",
    "RetryPolicy",
    "parse_retry_after",
]

"""The HTTP libraries' own log records, without our secrets.

At DEBUG, httpcore2 logs every response's headers and the openai SDK its requests: a server that echoes
the ``Authorization`` header into a response header would put the key into ``alttext -vv``'s output.
A filter on the loggers those libraries write to replaces the secrets our clients registered (and
anything shaped like a credential) before any handler sees the record. Logger filters run only for
records that pass the level check, so quiet runs pay nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from alttext.redact import redact

# Filters apply to records created on the logger itself, not on its children: every logger by name.
LOGGERS = (
    "openai",
    "openai._base_client",
    "openai._response",
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


class _RedactSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secrets: Iterable[str | None]) -> None:
        with self._lock:
            self._secrets = self._secrets | {secret for secret in secrets if secret}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a record whose arguments don't fit its format: leave it be
            return True
        cleaned = redact(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = _RedactSecrets()


def redact_library_logs(secrets: Iterable[str | None]) -> None:
    """From now on, ``secrets`` never appear in the HTTP libraries' log records (idempotent)."""
    _FILTER.add(secrets)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # a no-op when it is already there

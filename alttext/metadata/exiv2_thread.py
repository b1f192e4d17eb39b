"""The one thread that talks to libexiv2.

libexiv2 keeps process-global state (the XMP toolkit, its namespace registry, the log handler) that is
not safe to use from several threads at once, and python-exiv2 objects must not outlive or leave the
thread that made them. So every exiv2 call in alttext runs as a function submitted here, which creates,
uses and drops its exiv2 objects and returns plain Python data. Public functions call :func:`call` and
are therefore safe from any thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from alttext.metadata.fields import ALTTEXT_NS, ALTTEXT_PREFIX

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_thread_ident: int | None = None


def _initialise() -> None:
    global _thread_ident
    _thread_ident = threading.get_ident()
    import exiv2

    # Keep libexiv2's chatter ("Directory Canon has an unexpected next pointer") out of the user's
    # terminal; real failures arrive as exceptions.
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.error)
    exiv2.XmpParser.initialize()
    exiv2.XmpProperties.registerNs(ALTTEXT_NS, ALTTEXT_PREFIX)


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="alttext-exiv2", initializer=_initialise
            )
        return _executor


def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` on the exiv2 thread and return its result (exceptions are re-raised here)."""
    if threading.get_ident() == _thread_ident:
        return fn(*args, **kwargs)  # already on it: submitting would deadlock
    return _get_executor().submit(fn, *args, **kwargs).result()


def _forget_after_fork() -> None:
    # A forked child inherits the executor object but not its thread; start a fresh one on demand.
    global _executor, _thread_ident, _lock
    _executor = None
    _thread_ident = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)

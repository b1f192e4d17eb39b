"""Helper threads that give way to the model's threads (docs/architecture.md §6).

Image decoding and preprocessing run in thread pools beside torch's own threads, on the same cores. When a
helper thread takes a core from one of torch's threads in the middle of a matrix product, the other torch
threads wait for it at the next barrier, so a few milliseconds of decoding can stall the whole model.
A higher nice value for the helpers lets the scheduler run torch's threads first; the helpers still get
the cores whenever the model waits (for the next batch, or between batches).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

HELPER_NICENESS = 10  # added to the process's: helpers run when the model's threads leave a core idle


def lower_this_thread() -> None:
    """Raise the calling thread's nice value by ``HELPER_NICENESS`` (Linux, where a thread has its own; a
    no-op elsewhere, and where the system refuses)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + HELPER_NICENESS))

"""systemd notifications (sd_notify(3)) without libsystemd: one datagram to ``$NOTIFY_SOCKET`` per message.

Not started by systemd (no ``NOTIFY_SOCKET``), every call is a no-op. ``WATCHDOG_USEC`` (set when the
unit has ``WatchdogSec=``) tells how often the daemon must say ``WATCHDOG=1``; ``WATCHDOG_PID``, when
set, names the process that is meant to (not us if it differs).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract socket namespace
        self._address = address
        self._socket: socket.socket | None = None
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        if usec and (not pid or pid == str(os.getpid())):
            try:
                self.watchdog_interval = int(usec) / 1_000_000 or None
            except ValueError:
                logger.warning("ignoring WATCHDOG_USEC=%r: not a number", usec)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False (and a debug log line) if it could not go."""
        if self._address is None:
            return False
        message = "\n".join(line.replace("\n", " ") for line in assignments).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            logger.debug("systemd notification failed: %s", exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

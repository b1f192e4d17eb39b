"""Helpers for the daemon tests: run the installed ``alttext watch`` as a subprocess, make photos, read the
index with plain sqlite3 or psycopg (independent of alttext's own code), and wait for things with generous
timeouts.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from helpers import alttext_command
from PIL import Image

TIMEOUT = 120.0  # seconds: CI machines are slow and the model import alone can take 10+ s


def noise_image(seed: int, size: int = 48) -> Image.Image:
    """A picture nobody else has: random pixels from ``seed``."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def write_photo(path: Path, seed: int, size: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(seed, size).save(path)
    return path


def png_bytes(seed: int, size: int = 48) -> bytes:
    import io

    buffer = io.BytesIO()
    noise_image(seed, size).save(buffer, format="PNG")
    return buffer.getvalue()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment like tests/conftest.py's isolated one, for daemons started by module fixtures."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("ALTTEXT_") and name not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NOTIFY_SOCKET",
                                                              "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update(
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
        HF_HOME=str(home / ".cache/huggingface"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Daemon:
    """One ``alttext watch`` process; its stderr goes to a file the test can read at any time."""

    def __init__(self, db: Path | str, roots: list[Path], model: Path, *extra: str, env: dict[str, str],
                 log: Path, prefix: list[str] | None = None) -> None:
        self.argv = [*(prefix or []), *alttext_command(), "--db", str(db), "watch", *map(str, roots),
                     "--model", str(model), *extra]
        self.env = env
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None
        self.offset = 0  # log position at the last start

    def start(self) -> Daemon:
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self, *, all_runs: bool = False) -> str:
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        return data[0 if all_runs else self.offset:].decode("utf-8", "replace")

    def wait_log(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            match = re.search(pattern, self.log())
            if match:
                found.append(match)
            return match is not None

        wait_for(seen, f"log line matching {pattern!r}", timeout, self)
        return found[0]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, signum: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"daemon did not stop within {timeout} s:\n{self.log()[-4000:]}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT, daemon: Daemon | None = None,
             interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"daemon exited ({daemon.process.returncode}) while waiting for {what}:\n"
                                 f"{daemon.log()[-4000:]}")
        if time.monotonic() > deadline:
            tail = f"\n--- daemon log ---\n{daemon.log()[-4000:]}" if daemon is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(interval)


class Row(tuple):  # type: ignore[type-arg]
    """A result row readable by position and by column name, like sqlite3.Row, on both backends."""

    names: dict[str, int]

    def __new__(cls, values: tuple[Any, ...], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return super().__getitem__(self.names[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:  # as sqlite3.Row: dict(row) maps column names to values
        return list(self.names)


class IndexView:
    """Read-only questions about the index, asked straight through sqlite3 or psycopg (independent of
    alttext's own code). ``db`` is an SQLite file or a ``postgresql://`` address; queries use ``?``."""

    def __init__(self, db: Path | str) -> None:
        self.db = db
        self.postgres = str(db).startswith("postgresql://")

    def query(self, sql: str, *params: Any) -> list[Row]:
        if self.postgres:
            return self._query_postgres(sql, params)
        if not Path(self.db).exists():
            return []
        connection = sqlite3.connect(self.db, timeout=30)
        try:
            cursor = connection.execute(sql, params)
            names = {column[0]: i for i, column in enumerate(cursor.description or ())}
            return [Row(values, names) for values in cursor.fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the daemon is still creating the schema
                return []
            raise
        finally:
            connection.close()

    def _query_postgres(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        import psycopg

        with psycopg.connect(str(self.db), autocommit=True) as connection:
            cursor = connection.execute(sql.replace("?", "%s"), params)
            if cursor.description is None:  # a statement without rows (CREATE EXTENSION)
                return []
            names = {column.name: i for i, column in enumerate(cursor.description)}
            return [Row(values, names) for values in cursor.fetchall()]

    def file(self, path: Path) -> Row | None:
        rows = self.query("SELECT * FROM files WHERE path = ?", os.fsencode(str(path)))
        return rows[0] if rows else None

    def state(self, path: Path) -> str | None:
        row = self.file(path)
        return row["state"] if row is not None else None

    def indexed(self, path: Path) -> Row | None:
        row = self.file(path)
        return row if row is not None and row["state"] == "indexed" else None

    def image(self, image_id: int) -> Row:
        return self.query("SELECT * FROM images WHERE id = ?", image_id)[0]

    def captions_of(self, image_id: int) -> int:
        return self.query("SELECT count(*) AS n FROM captions WHERE image_id = ?", image_id)[0]["n"]

    def count(self, sql: str, *params: Any) -> int:
        rows = self.query(sql, *params)
        return int(rows[0][0]) if rows else 0

    def integrity(self) -> str:
        """SQLite's integrity_check; on PostgreSQL (which has no whole-database check) every index of the
        schema valid and its B-trees consistent with the table (amcheck, with its heap check)."""
        if not self.postgres:
            return self.query("PRAGMA integrity_check")[0][0]
        invalid = self.query("SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
                             " JOIN pg_namespace n ON n.oid = c.relnamespace"
                             " WHERE n.nspname = 'public' AND NOT (x.indisvalid AND x.indisready)")
        if invalid:
            return f"invalid indexes: {[row[0] for row in invalid]}"
        if not self.query("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'"):
            return "ok"  # a server without its contrib modules: the validity check above is all there is
        self.query("CREATE EXTENSION IF NOT EXISTS amcheck")  # the test server's user is its superuser
        self.query("SELECT bt_index_check(c.oid, true) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
                   " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam"
                   " WHERE n.nspname = 'public' AND a.amname = 'btree'")  # raises on a corrupt index
        return "ok"

"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temporary folder, listening on 127.0.0.1
only (on a free port; its unix socket in the same folder), fast and unsafe settings (no fsync: the data
is thrown away), stopped and removed at the end of the session.

PostgreSQL refuses to run as root. When the tests run as root (CI containers), the server runs as the
unprivileged user ``nobody``: the folder is made theirs and initdb/postgres are started with
``subprocess``'s ``user=``/``group=`` (no sudo, runuser or su needed). Nothing else runs as that user.

Where the server binary is looked for: ``$ALTTEXT_PG_BIN``, then ``pg_ctl``'s folder on PATH, then
Debian's /usr/lib/postgresql/<newest>/bin. No binary: the PostgreSQL tests skip, except under
``CI=true``, where a missing server or driver fails them; a server that is there but does not start fails
everywhere (docs/architecture.md §12).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TEMPLATE = "alttext_template"


def server_bin() -> Path | None:
    """The folder holding initdb and postgres, or None when this machine has no PostgreSQL server."""
    candidates: list[Path] = []
    if os.environ.get("ALTTEXT_PG_BIN"):
        candidates.append(Path(os.environ["ALTTEXT_PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates += [version / "bin" for version in versions]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true (a CI run must test PostgreSQL)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One running server; ``new_database()`` hands out empty databases, ``url()`` their addresses."""

    def __init__(self, bin_dir: Path, *, listen: tuple[str, ...] = ("127.0.0.1",), trust: tuple[str, ...] = ()) -> None:
        """``listen``: the addresses it listens on (127.0.0.1 first; a test adds its own veth address);
        ``trust``: more networks (CIDR) it takes connections from without a password."""
        self.bin_dir = bin_dir
        self.listen = listen
        self.trust = trust
        self.folder = Path(tempfile.mkdtemp(prefix="alttext-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.user = "alttext"
        self._as: dict[str, int] = {}
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as nobody, in a folder nobody owns
            nobody = pwd.getpwnam("nobody")
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid}
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        self._count = 0

    def _run(self, *args: str) -> None:
        result = subprocess.run(args, capture_output=True, cwd=self.folder, check=False, **self._as)  # type: ignore[call-overload]
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        if self.trust:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.writelines(f"host all all {network} trust\n" for network in self.trust)
        self._launch()

    def restart(self, down_seconds: float = 1.0) -> None:
        """Stop the server the way an administrator's restart does (fast shutdown: every session is ended),
        stay down ``down_seconds``, start it again on the same data, port and addresses."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # "fast" shutdown; SIGTERM would wait for the clients
        self.process.wait(timeout=60)
        time.sleep(down_seconds)
        self._launch()

    def _launch(self) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the server writes it until stop()
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.bin_dir / "postgres"), "-D", str(self.data), "-h", ",".join(self.listen), "-p", str(self.port),
             "-k", str(self.folder), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, **self._as,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.connect("postgres"):
                    break
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start: " + self.log_tail()) from None
                time.sleep(0.05)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")[-2000:]
        return ""

    def connect(self, database: str):  # -> psycopg.Connection
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database, autocommit=True)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, template: str = "template1") -> str:
        """A fresh database (a copy of ``template``); its name."""
        self._count += 1
        name = f"test_{self._count}"
        with self.connect("postgres") as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.connect("postgres") as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: "smart" shutdown; the FORCE drops ended every client
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def running_server(**options: tuple[str, ...]) -> Iterator[PostgresServer]:
    """A started server, stopped at the end; skips (fails under CI=true) when there is none to start."""
    bin_dir = server_bin()
    if bin_dir is None:
        unavailable("no initdb/postgres found (apt-get install postgresql)")
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e .[postgres])")
    server = PostgresServer(bin_dir, **options)
    try:
        server.start()  # a server binary that is there but fails is a failure, CI or not
        yield server
    finally:
        server.stop()

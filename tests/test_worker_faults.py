"""Fault tests of ``alttext worker`` (docs/architecture.md §16): three real worker processes caption 300 pending
photos of one PostgreSQL index while the database is restarted, one worker is SIGKILLed with a batch in
flight and another is SIGSTOPped past its lease and then resumed. At the end every picture has exactly one
model caption, nothing is lost, the resumed worker overwrote nothing, and every worker reconnected by itself.

The second test runs the same with each worker in a network namespace of its own, reaching PostgreSQL over a
veth pair whose addresses the test picks (workers "on other hosts"); it skips, saying why, where ``ip netns``
is not allowed. The captioner is the tiny random model slowed down to 0.1 s per image (tests/slow_worker.py),
so that there is always a batch in flight to kill or stop. Counts come from plain SQL (psycopg), not from
alttext's own code.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pg_kit
import pytest
from PIL import Image

from alttext.index.db import Index
from alttext.index.reconcile import Reconciler

PHOTOS = 300
LEASE = 3.0  # seconds: short, so that a stalled worker loses its files within the test
DELAY = 0.1  # seconds per image added to the model (tests/slow_worker.py)
TIMEOUT = 150.0
SLOW_WORKER = Path(__file__).parent / "slow_worker.py"


def _wait(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT, logs: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()[-6000:]}")
        time.sleep(0.05)


class Db:
    """Plain SQL on the test's database (a fresh connection each time: the server restarts under us)."""

    def __init__(self, server: pg_kit.PostgresServer, name: str) -> None:
        self.server, self.name = server, name

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        for attempt in range(100):
            try:
                with self.server.connect(self.name) as connection:
                    return list(connection.execute(sql, params).fetchall())
            except Exception:  # the server is restarting: try again
                if attempt == 99:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def value(self, sql: str, *params: Any) -> Any:
        return self.rows(sql, *params)[0][0]

    def worker_row(self, pid: int) -> tuple[Any, ...] | None:
        """(id, files_done, last_seen) of the process's newest active registration."""
        found = self.rows("SELECT id, files_done, last_seen FROM workers WHERE pid = %s AND state = 'active'"
                          " ORDER BY id DESC LIMIT 1", pid)
        return found[0] if found else None

    def holding(self, pid: int) -> list[int]:
        return [row[0] for row in self.rows(
            "SELECT f.id FROM files f JOIN workers w ON w.id = f.lease_owner"
            " WHERE f.state = 'pending' AND w.pid = %s AND w.state = 'active'", pid)]

    def in_transaction(self, pid: int) -> bool:
        """Has the worker a session busy or idle inside a transaction (application_name names its pid)?"""
        return bool(self.value("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s"
                               " AND state IN ('active', 'idle in transaction')", f"alttext worker %:{pid}"))


class Namespaces:
    """Network namespaces with a veth pair each: 10.213.X.1 on this side, 10.213.X.2 inside."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.hosts: list[str] = []

    def add(self, count: int) -> None:
        tag = f"{os.getpid() % 10000:04d}"
        taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
        octets = [n for n in random.Random(os.getpid()).sample(range(1, 250), 60) if f"10.213.{n}." not in taken]
        for n in range(count):
            name, outer, inner, octet = f"alttext-w{tag}-{n}", f"atw{tag}{n}a", f"atw{tag}{n}b", octets[n]
            steps = [
                ["ip", "netns", "add", name],
                ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
                ["ip", "link", "set", inner, "netns", name],
                ["ip", "addr", "add", f"10.213.{octet}.1/30", "dev", outer],
                ["ip", "link", "set", outer, "up"],
                ["ip", "netns", "exec", name, "ip", "addr", "add", f"10.213.{octet}.2/30", "dev", inner],
                ["ip", "netns", "exec", name, "ip", "link", "set", inner, "up"],
                ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
            ]
            for step in steps:
                result = subprocess.run(step, capture_output=True, text=True, check=False)
                if result.returncode:
                    raise OSError(f"{' '.join(step)}: {result.stderr.strip()}")
                if step[:3] == ["ip", "netns", "add"]:
                    self.names.append(name)
            self.hosts.append(f"10.213.{octet}.1")

    def remove(self) -> None:
        for name in self.names:  # removing a namespace removes its end of the veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)"
    probe = f"alttext-probe-{os.getpid()}"
    try:
        result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "no `ip` command (iproute2)"
    if result.returncode:
        return f"`ip netns add` is not allowed here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@contextlib.contextmanager
def _setup(tmp_path: Path, netns: bool) -> Iterator[tuple[pg_kit.PostgresServer, list[str], list[list[str]]]]:
    """A server of the test's own (it is restarted); the address each worker uses and its command prefix."""
    spaces = Namespaces()
    try:
        if netns:
            spaces.add(3)
        trust = tuple(host.rsplit(".", 1)[0] + ".0/30" for host in spaces.hosts)
        with pg_kit.running_server(listen=("127.0.0.1", *spaces.hosts), trust=trust) as server:
            if netns:
                yield server, spaces.hosts, [["ip", "netns", "exec", name] for name in spaces.names]
            else:
                yield server, ["127.0.0.1"] * 3, [[]] * 3
    finally:
        spaces.remove()


def _photos(folder: Path) -> None:
    folder.mkdir()
    for seed in range(PHOTOS):
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").save(folder / f"p{seed:03d}.png")


def _fault_run(tmp_path: Path, tiny_model: Path, *, netns: bool) -> None:
    photos = tmp_path / "photos"
    _photos(photos)
    with _setup(tmp_path, netns) as (server, hosts, prefixes):
        name = server.new_database()
        with Index(server.url(name)) as index:  # migrated, and the 300 photos queued (pending) by a reconcile scan
            reconciler = Reconciler(index)
            reconciler.scan_root(str(photos))
            reconciler.match_moves()
        db = Db(server, name)
        assert db.value("SELECT count(*) FROM files WHERE state = 'pending'") == PHOTOS
        env = {**os.environ, "HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        logs = [tmp_path / f"worker{n}.log" for n in range(3)]
        processes: list[subprocess.Popen[bytes]] = []
        for n in range(3):
            url = f"postgresql://{server.user}@{hosts[n]}:{server.port}/{name}"
            with open(logs[n], "wb") as log:
                processes.append(subprocess.Popen(
                    [*prefixes[n], sys.executable, str(SLOW_WORKER), str(DELAY), "--db", url, "worker", "--model",
                     str(tiny_model), "--batch-size", "4", "--lease", f"{LEASE}s", "--poll", "0.3s"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env))

        def all_logs() -> str:
            return "\n".join(f"--- worker {n}:\n{log.read_text(errors='replace')[-3000:]}"
                             for n, log in enumerate(logs))

        def indexed() -> int:
            return int(db.value("SELECT count(*) FROM files WHERE state = 'indexed'"))

        try:
            pids = [process.pid for process in processes]
            _wait(lambda: all(db.worker_row(pid) for pid in pids) and indexed() >= 20, "three workers at work",
                  logs=all_logs)
            # 1. The database restarts under them; each reconnects by itself and goes on.
            server.restart(down_seconds=1.5)
            restarted_at = db.value("SELECT timezone('utc', now())")
            # Each renews its lease again (perhaps as a new registration, if the outage outlasted it)...
            _wait(lambda: all((row := db.worker_row(pid)) and row[2] > restarted_at for pid in pids),
                  "every worker to renew its lease after the restart", logs=all_logs)
            since = {pid: db.worker_row(pid) for pid in pids}
            # ...and stores new captions (files_done is counted from then on, per registration).
            _wait(lambda: all((row := db.worker_row(pid)) and (row[0] != since[pid][0] or row[1] >= since[pid][1] + 4)
                              for pid in pids), "every worker to store work after the restart", logs=all_logs)
            # 2. SIGKILL one with claimed files in flight.
            killed, stopped, survivor = processes
            _wait(lambda: db.holding(killed.pid), "the first worker to hold a batch", logs=all_logs)
            killed.send_signal(signal.SIGKILL)
            killed.wait()
            # 3. SIGSTOP another with claims in flight, outside a transaction (a session stopped inside one is
            # ended by the server after idle_in_transaction_session_timeout; that is not what this step tests).
            for _ in range(200):
                _wait(lambda: db.holding(stopped.pid), "the second worker to hold a batch", logs=all_logs)
                stopped.send_signal(signal.SIGSTOP)
                held = db.holding(stopped.pid)
                if held and not db.in_transaction(stopped.pid):
                    break
                stopped.send_signal(signal.SIGCONT)
                time.sleep(0.05)
            else:
                raise AssertionError("could not stop the second worker outside a transaction")
            # Its lease runs out, the survivor takes its files over and captions them.
            _wait(lambda: db.value("SELECT count(*) FROM files WHERE id = ANY(%s) AND state = 'indexed'", held)
                  == len(held), "the survivor to take over the stopped worker's files", logs=all_logs)
            taken_over = db.rows(
                "SELECT f.id, f.image_id, i.caption_id, c.text, c.created_at FROM files f"
                " JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id"
                " WHERE f.id = ANY(%s) ORDER BY f.id", held)
            assert len(taken_over) == len(held)
            resumed_at = time.monotonic()
            stopped.send_signal(signal.SIGCONT)
            _wait(lambda: indexed() == PHOTOS, f"all {PHOTOS} photos indexed", logs=all_logs)
            # The resumed worker found its lease gone and registered again (by itself, as after the restart).
            _wait(lambda: db.worker_row(stopped.pid) is not None, "the resumed worker to register again",
                  logs=all_logs)
            for process in (stopped, survivor):
                process.send_signal(signal.SIGTERM)
            assert [process.wait(timeout=60) for process in (stopped, survivor)] == [0, 0], all_logs()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                    process.wait()

        # Every photo indexed, each picture captioned by the model exactly once, nothing left claimed or failed.
        assert db.rows("SELECT state, count(*) FROM files GROUP BY state") == [("indexed", PHOTOS)]
        assert db.value("SELECT count(*) FROM images") == PHOTOS
        assert db.value("SELECT count(*) FROM captions WHERE source = 'model'") == PHOTOS
        assert db.rows("SELECT image_id FROM captions GROUP BY image_id HAVING count(*) != 1") == []
        assert db.rows("SELECT id FROM images WHERE caption_id IS NULL") == []
        assert db.value("SELECT count(*) FROM files WHERE lease_owner IS NOT NULL") == 0
        # The resumed worker overwrote nothing of what the survivor stored for the files it had taken over...
        assert db.rows(
            "SELECT f.id, f.image_id, i.caption_id, c.text, c.created_at FROM files f"
            " JOIN images i ON i.id = f.image_id JOIN captions c ON c.id = i.caption_id"
            " WHERE f.id = ANY(%s) ORDER BY f.id", held) == taken_over
        # ...and says that it kept its hands off them.
        stopped_log = logs[1].read_text(errors="replace")
        assert "not stored: another worker took" in stopped_log, stopped_log[-4000:]
        assert "lost its lease" in stopped_log
        # Registrations, oldest first (a busy machine may starve a heartbeat past the 3 s lease at the restart,
        # which costs a registration, never a result): the killed worker's last one lapsed and was marked lost;
        # the resumed one lost one and registered again; every live worker stopped cleanly.
        states = {pid: [row[0] for row in db.rows("SELECT state FROM workers WHERE pid = %s ORDER BY id", pid)]
                  for pid in pids}
        assert states[killed.pid][-1] == "lost", states
        assert states[stopped.pid][-2:] == ["lost", "stopped"], states
        assert states[survivor.pid][-1] == "stopped", states
        assert db.value("SELECT count(*) FROM workers WHERE state = 'active'") == 0
        for log in logs:
            assert "Traceback" not in log.read_text(errors="replace"), all_logs()
        assert time.monotonic() - resumed_at < TIMEOUT


@pytest.mark.slow
def test_workers_survive_kill_stop_and_a_database_restart(tmp_path: Path, tiny_model: Path) -> None:
    _fault_run(tmp_path, tiny_model, netns=False)


@pytest.mark.slow
def test_workers_in_network_namespaces_reach_the_database_over_veth(tmp_path: Path, tiny_model: Path) -> None:
    reason = _netns_unavailable()
    if reason is not None:
        pytest.skip(f"workers on other hosts need network namespaces: {reason}")
    _fault_run(tmp_path, tiny_model, netns=True)

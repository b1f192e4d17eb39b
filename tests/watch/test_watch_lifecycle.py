"""The daemon's life: systemd notifications, SIGTERM in the middle of a batch, catching up at start-up,
polling, and the fall-back to polling when inotify runs out of watches."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from watchkit import Daemon, IndexView, wait_for, write_photo

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)


class NotifySocket:
    """A stand-in for systemd's notification socket: collects the datagrams the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self._socket.recv(65536).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def lines(self) -> list[str]:
        return [line for message in list(self.messages) for line in message.split("\n")]

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self._socket.close()


def test_sigterm_mid_batch_loses_nothing_and_start_up_catches_up(
    tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str
) -> None:
    root = tmp_path / "photos"
    for number in range(200):  # there before the daemon starts: found by the start-up scan
        write_photo(root / f"{number // 50}" / f"p{number:03d}.png", 2000 + number, size=64)
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = make_daemon([root], "--batch-size", "4",
                         env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}).start()
    index = IndexView(db)
    try:
        wait_for(lambda: "READY=1" in notify.lines(), "READY=1", daemon=daemon)
        wait_for(lambda: index.count("SELECT count(*) FROM files WHERE state = 'indexed'") > 0, "a first batch",
                 daemon=daemon, interval=0.02)
        assert daemon.stop() == 0  # SIGTERM
        lines = notify.lines()
        assert "WATCHDOG=1" in lines and "STOPPING=1" in lines
        assert any(line.startswith("STATUS=watching 1 folder(s)") for line in lines)
    finally:
        notify.close()
    states = {row["state"]: row["n"] for row in index.query("SELECT state, count(*) AS n FROM files GROUP BY state")}
    assert sum(states.values()) == 200 and set(states) <= {"indexed", "pending"}, states
    assert states.get("pending"), "SIGTERM came after the last batch; the test proves less than it should"
    assert index.integrity() == "ok"
    assert "stopping (SIGTERM)" in daemon.log()

    for number in range(5):  # arrive while the daemon is stopped
        write_photo(root / "later" / f"l{number}.png", 3000 + number)
    daemon.start()
    wait_for(lambda: index.count("SELECT count(*) FROM files WHERE state = 'indexed'") == 205, "all 205 indexed",
             daemon=daemon)
    assert daemon.stop() == 0
    assert index.count("SELECT count(*) FROM files") == 205
    assert index.count("SELECT count(*) FROM images") == 205
    assert index.query("SELECT image_id FROM captions GROUP BY image_id HAVING count(*) != 1") == []
    assert index.integrity() == "ok"


def test_poll_mode(tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str) -> None:
    root = tmp_path / "share"
    root.mkdir()
    daemon = make_daemon([root], "--poll", "--poll-interval", "0.5s").start()
    daemon.wait_log(r"polling every 0\.5 s")
    index = IndexView(db)
    photo = write_photo(root / "sub" / "a.png", 1)
    row = wait_for(lambda: index.indexed(photo), "a.png indexed", daemon=daemon)
    renamed = photo.with_name("b.png")
    photo.rename(renamed)
    moved = wait_for(lambda: index.indexed(renamed), "b.png indexed", daemon=daemon)
    assert moved["image_id"] == row["image_id"] and index.captions_of(row["image_id"]) == 1
    renamed.unlink()
    wait_for(lambda: index.state(renamed) == "missing", "b.png missing", daemon=daemon)
    assert daemon.stop() == 0


def _can_limit_inotify_watches() -> str | None:
    """None if a user namespace with a lowered inotify watch limit can be made here, else why not."""
    if not shutil.which("unshare"):
        return "unshare(1) is not installed"
    probe = subprocess.run(["unshare", "-U", "-r", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot lower the inotify watch limit in a user namespace: {probe.stderr.strip()}"
    return None


def test_running_out_of_inotify_watches_falls_back_to_polling(
    tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str
) -> None:
    why_not = _can_limit_inotify_watches()
    if why_not:
        pytest.skip(why_not)
    root = tmp_path / "big-library"
    for number in range(12):
        (root / f"album-{number:02d}" / "inner").mkdir(parents=True)
    # The daemon runs in its own user namespace where only 8 inotify watches may exist: fewer than the
    # 25 folders to watch (watchdog gives up silently on subfolders; we must notice).
    limit = ["unshare", "-U", "-r", "sh", "-c", 'echo 8 > /proc/sys/user/max_inotify_watches && exec "$@"', "sh"]
    daemon = make_daemon([root], "--poll-interval", "0.5s", prefix=limit).start()
    daemon.wait_log("falling back to polling every 0.5 s")
    daemon.wait_log("start-up scan")
    index = IndexView(db)
    deep = write_photo(root / "album-11" / "inner" / "deep.png", 5)  # seen by polling, not by the start-up scan
    wait_for(lambda: index.state(deep) in ("pending", "indexed"), "deep.png found", daemon=daemon)
    assert "inotify watch limit" in daemon.log() or "can't watch everything" in daemon.log()
    daemon.kill()  # not a test of stopping: no need to wait for the model it is now loading


def _without_permission_override(tmp_path: Path) -> list[str] | None:
    """A command prefix under which file permissions apply (root ignores them), or None if none works."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        return None
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    probe = tmp_path / "probe"
    probe.mkdir(mode=0)
    try:
        denied = subprocess.run([*prefix, "ls", str(probe)], capture_output=True).returncode != 0
    finally:
        probe.rmdir()
    return prefix if denied else None


def test_an_unreadable_folder_is_logged_once_and_picked_up_when_readable(
    tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str
) -> None:
    prefix = _without_permission_override(tmp_path)
    if prefix is None:
        pytest.skip("running as root, and setpriv can't drop the permission override here")
    root = tmp_path / "photos"
    locked = root / "locked"
    inside = write_photo(locked / "inside.png", 1)
    outside = write_photo(root / "open.png", 2)
    locked.chmod(0)
    index = IndexView(db)
    try:
        daemon = make_daemon([root], prefix=prefix).start()
        wait_for(lambda: index.indexed(outside), "open.png indexed", daemon=daemon)
        for scans in (2, 3):  # more scans, still unreadable: still one warning
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(lambda n=scans: daemon.log().count(" scan: ") >= n, f"{scans} scans", daemon=daemon)
        assert daemon.log().count("cannot read folder") == 1, daemon.log()
        assert index.file(inside) is None
    finally:
        locked.chmod(0o755)
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_log("can be read again")
    wait_for(lambda: index.indexed(inside), "inside.png indexed", daemon=daemon)
    daemon.wait_log("restarting the file watcher")
    after = write_photo(locked / "after.png", 3)  # found by an event: the folder is watched now
    wait_for(lambda: index.indexed(after), "after.png indexed", daemon=daemon)
    assert daemon.stop() == 0


def test_a_model_that_cannot_load_stops_the_daemon_with_the_reason(
    tmp_path: Path, make_daemon: Callable[..., Daemon], db: Path | str
) -> None:
    root = tmp_path / "photos"
    photo = write_photo(root / "a.png", 1)
    daemon = make_daemon([root])
    daemon.argv[daemon.argv.index("--model") + 1] = str(tmp_path / "no-such-model")
    daemon.start()
    assert daemon.process.wait(120) == 2  # lazily: when the first photo needs it
    assert "cannot load the model" in daemon.log()
    assert IndexView(db).state(photo) == "pending"  # kept for the next start

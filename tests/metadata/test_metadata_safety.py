"""Per-file failures: each ends in a FAILED result with a one-line error, the original byte-identical
and no temp file left behind. Nothing here raises."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

import pytest
from metadata_helpers import sha, temp_files

from alttext.metadata import Status, Where, atomic, clean_stale_temp_files, embed, is_temp_name
from alttext.metadata import writer as embed_module
from alttext.metadata.exiv2io import MetadataError


def assert_failed_cleanly(result, path: Path, before: str, *, contains: str) -> None:
    assert result.status is Status.FAILED
    assert result.error and contains in result.error, result.error
    assert "\n" not in result.error
    assert sha(path) == before
    assert temp_files(path.parent) == []


def test_read_only_file_in_place_fails_and_auto_uses_a_sidecar(photos) -> None:
    path = photos("jpeg_plain")
    before = sha(path)
    path.chmod(0o444)
    assert_failed_cleanly(embed(path, "An astronaut.", sidecar=False), path, before, contains="read-only")
    result = embed(path, "An astronaut.")
    assert result.status is Status.WRITTEN and result.where is Where.SIDECAR
    assert result.target == str(path) + ".xmp"
    assert "read-only" in result.notes[0]
    assert sha(path) == before and os.stat(path).st_mode & 0o777 == 0o444


def test_read_only_folder(photos) -> None:
    path = photos("png")
    before = sha(path)
    path.parent.chmod(0o555)
    try:
        for sidecar in (None, True, False):
            result = embed(path, "A rocket.", sidecar=sidecar)
            assert_failed_cleanly(result, path, before, contains="folder is read-only")
    finally:
        path.parent.chmod(0o755)
    assert not Path(str(path) + ".xmp").exists()


def test_temp_file_cannot_be_created(photos, monkeypatch) -> None:
    path = photos("png")
    before = sha(path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    assert_failed_cleanly(embed(path, "A rocket."), path, before, contains="permission denied")


@pytest.mark.parametrize("kind", ["jpeg_plain", "webp_lossless"])
def test_disk_full(kind: str, photos, monkeypatch) -> None:
    path = photos(kind)
    before = sha(path)
    real_write_all = atomic._write_all

    def full(fd: int, data: bytes) -> None:
        real_write_all(fd, data[: len(data) // 2])  # a partial temp file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_all", full)
    assert_failed_cleanly(embed(path, "Full disk."), path, before, contains="no space left on device")


@pytest.mark.parametrize("restore_mtime", [False, True])
def test_file_modified_between_snapshot_and_replace(photos, monkeypatch, restore_mtime: bool) -> None:
    path = photos("jpeg_plain")

    def meddle(stage: str, target: str) -> None:
        if stage == "before-replace":
            st = os.stat(target)
            with open(target, "r+b") as stream:  # same inode, same size
                stream.seek(100)
                stream.write(b"X")
            if restore_mtime:  # and the same mtime: only the content hash can tell
                os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))

    monkeypatch.setattr(atomic, "checkpoint", meddle)
    before_meddling = path.read_bytes()
    result = embed(path, "An astronaut.")
    assert result.status is Status.FAILED
    assert ("content changed" if restore_mtime else "changed or replaced") in result.error
    expected = before_meddling[:100] + b"X" + before_meddling[101:]
    assert path.read_bytes() == expected  # the other program's version, not ours
    assert temp_files(path.parent) == []


def test_file_replaced_between_snapshot_and_write(photos, monkeypatch) -> None:
    path = photos("png")
    replacement = path.with_name("replacement.png")
    replacement.write_bytes(path.read_bytes() + b"")  # identical bytes, but a new inode

    def swap(stage: str, target: str) -> None:
        if stage == "temp-written":
            os.replace(replacement, target)

    monkeypatch.setattr(atomic, "checkpoint", swap)
    before = sha(path)
    result = embed(path, "A rocket.")
    assert_failed_cleanly(result, path, before, contains="replaced by another program")


def test_file_deleted_meanwhile(photos, monkeypatch) -> None:
    path = photos("png")

    def delete(stage: str, target: str) -> None:
        if stage == "before-replace":
            os.unlink(target)

    monkeypatch.setattr(atomic, "checkpoint", delete)
    result = embed(path, "A rocket.")
    assert result.status is Status.FAILED and "deleted or renamed" in result.error
    assert not path.exists()  # not resurrected by our write
    assert temp_files(path.parent) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, not a picture at all", "not an image"),
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "damaged"),
    ],
)
def test_not_really_an_image(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    before = sha(path)
    assert_failed_cleanly(embed(path, "Anything."), path, before, contains=message)


def test_truncated_jpeg_is_refused(photos) -> None:
    path = photos("jpeg_plain")
    path.write_bytes(path.read_bytes()[:20_000])
    before = sha(path)
    result = embed(path, "Half an astronaut.")
    assert result.status is Status.FAILED
    assert sha(path) == before and temp_files(path.parent) == []


def test_pixel_mismatch_is_caught(photos, monkeypatch) -> None:
    path = photos("webp_extended")
    before = sha(path)
    digests = iter(["original", "something else"])
    monkeypatch.setattr(embed_module.pixels, "pixel_digest", lambda data: next(digests))
    assert_failed_cleanly(embed(path, "A rocket."), path, before, contains="pixels differ")


def test_changed_tag_is_caught(photos, monkeypatch) -> None:
    """A writer that drops another tag (as piexif drops JFIF data) is refused by the verification."""
    path = photos("webp_extended")  # has EXIF Make/Model
    before = sha(path)
    real_write = embed_module.exiv2io.write

    def lossy_write(data, plan):
        from alttext.metadata.exiv2io import Plan

        out = real_write(data, plan)
        # Rewrite once more, replacing the EXIF Make with a different value.
        return real_write(out, Plan(strings={**plan.strings, "Exif.Image.Make": "Nikon"}))

    monkeypatch.setattr(embed_module.exiv2io, "write", lossy_write)
    assert_failed_cleanly(embed(path, "A rocket."), path, before, contains="changed Exif.Image.Make")


def test_exiv2_error_is_a_per_file_failure(photos, monkeypatch) -> None:
    path = photos("tiff")
    before = sha(path)

    def broken(data, plan):
        raise MetadataError("exiv2: Failed to write image")

    monkeypatch.setattr(embed_module.exiv2io, "write", broken)
    assert_failed_cleanly(embed(path, "Coffee."), path, before, contains="Failed to write image")


def test_unexpected_bug_is_still_a_result(photos, monkeypatch) -> None:
    path = photos("png")
    before = sha(path)
    monkeypatch.setattr(embed_module.policy, "build_plan", lambda *a, **k: 1 / 0)
    assert_failed_cleanly(embed(path, "A rocket."), path, before, contains="ZeroDivisionError")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "no such file" in embed(tmp_path / "gone.jpg", "x").error
    assert "not a regular file" in embed(tmp_path, "x").error


def test_caller_mistakes_raise(photos) -> None:
    path = photos("png")
    with pytest.raises(ValueError, match="fields"):
        embed(path, "x", fields={"alt", "keywords"})
    with pytest.raises(ValueError, match="language"):
        embed(path, "x", lang="english please")
    with pytest.raises(ValueError, match="sidecar_name"):
        embed(path, "x", sidecar_name="sidecar")


def test_hard_links_are_reported(photos) -> None:
    path = photos("png")
    other = path.with_name("other-name.png")
    os.link(path, other)
    before = sha(other)
    result = embed(path, "A rocket.")
    assert result.status is Status.WRITTEN
    assert any("hard links" in note for note in result.notes)
    assert sha(other) == before


def test_stale_temp_files_are_cleaned_but_live_ones_kept(photos) -> None:
    path = photos("jpeg_plain")
    folder = path.parent
    stale = folder / f".{path.name}.alttext-tmp-deadbeef"
    stale.write_bytes(b"left by a killed process")
    (folder / f".{path.name}.alttext-tmp-deadbeef_exiftool_tmp").write_bytes(b"exiftool's leftover")
    live = folder / f".{path.name}.alttext-tmp-livelive"
    live.write_bytes(b"in use")
    fd = os.open(live, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    # The lock is per open file description: another one in this process is refused, like another process.
    try:
        result = embed(path, "An astronaut.")
        assert result.status is Status.WRITTEN
        assert any("deadbeef" in note for note in result.notes)
        assert temp_files(folder) == [live.name]
    finally:
        os.close(fd)
    assert clean_stale_temp_files(str(folder)) == [str(live)]
    assert temp_files(folder) == []
    assert is_temp_name(stale.name) and not is_temp_name(path.name)


def test_concurrent_embeds_from_many_threads(tmp_path: Path) -> None:
    from PIL import Image
    from skimage import data

    base = Image.fromarray(data.astronaut()).resize((128, 128))
    paths = []
    for i in range(12):
        path = tmp_path / f"img{i}.{('jpg', 'png', 'webp', 'tif')[i % 4]}"
        base.rotate(i * 30).save(path)
        paths.append(path)
    results: dict[Path, object] = {}

    def work(path: Path) -> None:
        results[path] = embed(path, f"Picture {path.stem}", fields={"alt", "exif"})

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.status is Status.WRITTEN for r in results.values()), [r.error for r in results.values()]
    exiv2_threads = [t for t in threading.enumerate() if t.name.startswith("alttext-exiv2")]
    assert len(exiv2_threads) == 1


def test_exiv2_runs_on_one_thread_and_nested_calls_do_not_deadlock() -> None:
    from alttext.metadata import exiv2_thread as worker

    seen = set()

    def where() -> threading.Thread:
        return threading.current_thread()

    def nested() -> threading.Thread:
        return worker.call(where)  # already on the exiv2 thread

    threads = [threading.Thread(target=lambda: seen.add(worker.call(where))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 1
    assert worker.call(nested) in seen
    assert next(iter(seen)) is not threading.current_thread()


def test_exiftool_failure_leaves_heic_alone(photos, monkeypatch) -> None:
    path = photos("heic")
    before = sha(path)

    def crash(target: str, **kwargs) -> None:
        Path(target + "_exiftool_tmp").write_bytes(b"half")  # what a dying exiftool leaves
        raise embed_module.exiftool.ExiftoolError("exiftool: Error writing file")

    monkeypatch.setattr(embed_module.exiftool, "write", crash)
    if embed_module.exiftool.exiftool_path() is None:
        pytest.skip("exiftool not installed")
    assert_failed_cleanly(embed(path, "A rocket."), path, before, contains="Error writing file")


def test_verification_catches_lost_and_added_tags() -> None:
    from alttext.metadata.exiv2io import Metadata, Plan
    from alttext.metadata.verify import VerifyError, check

    def meta(values: dict[str, tuple[str, ...]]) -> Metadata:
        return Metadata("jpeg", values, {}, None, None, None, None, None)

    plan = Plan(strings={"Xmp.alttext.Tool": "alttext"})
    before = meta({"Exif.Image.Make": ("Canon",), "Xmp.xmp.Rating": ("3",)})
    check(before, meta({**before.values, "Xmp.alttext.Tool": ("alttext",)}), plan)
    with pytest.raises(VerifyError, match=r"lose Xmp\.xmp\.Rating"):
        check(before, meta({"Exif.Image.Make": ("Canon",), "Xmp.alttext.Tool": ("alttext",)}), plan)
    with pytest.raises(VerifyError, match=r"added unexpected tags Exif\.Image\.Artist"):
        check(before, meta({**before.values, "Xmp.alttext.Tool": ("alttext",), "Exif.Image.Artist": ("x",)}),
              plan)
    with pytest.raises(VerifyError, match="did not read back"):
        check(before, before, plan)

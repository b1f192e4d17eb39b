"""Writing alt text into one photo (or its sidecar), safely: see docs/architecture.md §4.

For every file: snapshot (stat + SHA-256 of the bytes), build the new file in memory, write it to a
locked temp file beside the original, read that back and verify it (our values, every other tag,
identical decoded pixels, and exiftool's independent view of the XMP where exiftool is installed),
re-check that the original is still exactly the snapshot, keep its owner/group/permissions/xattrs (and
mtime), then ``os.replace`` and fsync the folder. Any per-file problem returns a FAILED result with a
one-line error and leaves the original byte-identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from alttext.metadata import atomic, container, exiftool, exiv2io, jpeg, legacy_xmp, photoshop, pixels, png, policy
from alttext.metadata.atomic import SafetyError, Snapshot, TempFile
from alttext.metadata.exiv2io import Metadata, MetadataError, Plan
from alttext.metadata.fields import ALL_FIELDS, EXIF, EXTDESCR, IPTC, TextError, check_lang, clean_text
from alttext.metadata.formats import EXIFTOOL, IN_PLACE, NOT_AN_IMAGE, SIDECAR_STYLES, classify, sidecar_path
from alttext.metadata.policy import WRITE, FieldOutcome
from alttext.metadata.results import EmbedResult, FileStat, Status, Where
from alttext.metadata.verify import VerifyError, check, check_independent, unseen_xmp

# Tags exiftool adds by itself when it creates an EXIF block in a HEIC file.
_EXIFTOOL_DEFAULT_TAGS = frozenset(
    {"Exif.Image.XResolution", "Exif.Image.YResolution", "Exif.Image.ResolutionUnit",
     "Exif.Image.YCbCrPositioning"}
)


class _Failed(Exception):
    def __init__(self, message: str, where: Where | None = None, target: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.target = target


def _check_fields(fields: Iterable[str]) -> tuple[str, ...]:
    if isinstance(fields, str):
        fields = fields.split(",")
    chosen = {f.strip() for f in fields if f.strip()}
    unknown = chosen - set(ALL_FIELDS)
    if unknown or not chosen:
        raise ValueError(f"fields must be a non-empty subset of {ALL_FIELDS}, not {sorted(chosen)}")
    return tuple(f for f in ALL_FIELDS if f in chosen)


def embed(
    path: str | os.PathLike[str],
    alt_text: str,
    *,
    lang: str = "en",
    fields: Iterable[str] = frozenset({"alt"}),
    force: bool = False,
    human_approved: bool = False,
    sidecar: bool | None = None,
    sidecar_name: str = "ext.xmp",
    backup: bool = False,
    keep_mtime: bool = True,
    dry_run: bool = False,
    long_description: str | None = None,
    long_description_approved: bool | None = None,
) -> EmbedResult:
    """Embed ``alt_text`` into the photo at ``path``; never raises for a problem with the file.

    ``fields``: any of "alt" (XMP Iptc4xmpCore:AltTextAccessibility, the default), "description"
    (XMP dc:description), "exif" (EXIF ImageDescription) and "iptc" (IPTC-IIM Caption-Abstract, only
    where the file already has IIM) and "extdescr" (XMP Iptc4xmpCore:ExtDescrAccessibility, written
    with ``long_description`` instead of the alt text, and left out when there is none).
    ``long_description_approved``: whether a person approved the long description (default:
    ``human_approved``); it decides, like ``human_approved`` for the alt text, whether a person's
    value may be replaced. ``sidecar``: True always writes ``IMG.ext.xmp`` (or ``IMG.xmp``
    with ``sidecar_name="xmp"``), False only writes the file itself, None chooses by format and
    permissions. ``force`` replaces existing values; a person's value only when ``human_approved``
    too (see :mod:`alttext.metadata.policy`). Caller mistakes (unknown field, bad language tag,
    bad sidecar name) raise ValueError.
    """
    chosen = _check_fields(fields)
    lang = check_lang(lang)
    if sidecar_name not in SIDECAR_STYLES:
        raise ValueError(f"sidecar_name must be one of {SIDECAR_STYLES}, not {sidecar_name!r}")
    given = os.fspath(path)
    try:
        return _embed(given, alt_text, lang=lang, fields=chosen, force=force, human_approved=human_approved,
                      sidecar=sidecar, sidecar_name=sidecar_name, backup=backup, keep_mtime=keep_mtime,
                      dry_run=dry_run, long_description=long_description,
                      long_description_approved=human_approved if long_description_approved is None
                      else long_description_approved)
    except _Failed as exc:
        return EmbedResult(given, Status.FAILED, exc.where, exc.target, error=str(exc),
                           stat=FileStat.of(given))
    except Exception as exc:  # a bug or an unforeseen OS condition: still one file's failure
        return EmbedResult(given, Status.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}",
                           stat=FileStat.of(given))


def _embed(given: str, alt_text: str, *, lang: str, fields: tuple[str, ...], force: bool,
           human_approved: bool, sidecar: bool | None, sidecar_name: str, backup: bool, keep_mtime: bool,
           dry_run: bool, long_description: str | None, long_description_approved: bool) -> EmbedResult:
    try:
        text = clean_text(alt_text)
    except TextError as exc:
        raise _Failed(str(exc)) from exc
    notes: list[str] = []
    own_texts: dict[str, tuple[str, bool]] = {}
    if EXTDESCR in fields and long_description is not None:
        try:
            own_texts[EXTDESCR] = (clean_text(long_description), long_description_approved)
        except TextError as exc:  # the alt text still goes in; the description is left out, and said so
            notes.append(f"long description not embedded: {str(exc).replace('alt text', 'it')}")
    real = os.path.realpath(given)  # write the symlink's target, keep the link
    if not os.path.lexists(real):
        raise _Failed("no such file")
    if not os.path.isfile(real):
        raise _Failed("not a regular file")
    folder = os.path.dirname(real)
    notes += [f"removed stale temp file {os.path.basename(p)}" for p in atomic.clean_folder_once(folder)]
    snap = _snapshot(real)
    atomic.checkpoint("snapshot", real)

    image_type = _image_type(snap.data)
    fmt = classify(real, image_type, snap.data[:16],
                   None if image_type != "none" else pixels.pillow_format(snap.data))
    if fmt.kind == NOT_AN_IMAGE:
        raise _Failed("not an image (unknown file format)")
    where, why = _route(fmt.kind, fmt.label, real, sidecar)
    if why:
        notes.append(why)
    if atomic.is_read_only(folder):
        target = real if where is not Where.SIDECAR else sidecar_path(real, sidecar_name)
        raise _Failed("the folder is read-only: nothing can be written beside the file", where, target)

    common: dict[str, Any] = dict(text=text, lang=lang, fields=fields, force=force, human_approved=human_approved,
                                  backup=backup, dry_run=dry_run, notes=notes, own_texts=own_texts)
    if where is Where.SIDECAR:
        return _into_sidecar(given, real, snap, image_type, sidecar_name, **common)
    return _into_file(given, real, snap, fmt.image_type, where, keep_mtime=keep_mtime, **common)


def _snapshot(path: str) -> Snapshot:
    try:
        snap = atomic.take_snapshot(path)
    except SafetyError as exc:
        raise _Failed(str(exc)) from exc
    if not snap.exists:
        raise _Failed("file vanished before it could be read")
    if not snap.data:
        raise _Failed("empty file (0 bytes)")
    return snap


def _stat_of(snap: Snapshot) -> FileStat:
    return FileStat(snap.size, snap.mtime_ns, snap.ino, snap.dev)


def _image_type(data: bytes) -> str:
    try:
        return exiv2io.image_type(data)
    except MetadataError:
        return "none"


def _route(kind: str, label: str, real: str, sidecar: bool | None) -> tuple[Where, str | None]:
    """Where to write, and a note when the automatic choice deserves one."""
    if sidecar:
        return Where.SIDECAR, None
    read_only = atomic.is_read_only(real)
    if kind in (IN_PLACE, EXIFTOOL):
        if kind == EXIFTOOL and exiftool.exiftool_path() is None:
            if sidecar is False:
                raise _Failed(f"{label} files need exiftool, which is not installed (or use a sidecar)")
            return Where.SIDECAR, "exiftool is not installed: wrote a sidecar"
        if read_only:
            if sidecar is False:
                raise _Failed("the file is read-only", Where.FILE, real)
            return Where.SIDECAR, "the file is read-only: wrote a sidecar"
        return (Where.EXIFTOOL if kind == EXIFTOOL else Where.FILE), None
    if sidecar is False:
        raise _Failed(f"{label} files are never rewritten: use a sidecar")
    return Where.SIDECAR, None


def _decide(fields: tuple[str, ...], text: str, lang: str, target: Metadata, *, image: Metadata | None,
            where: Where, force: bool, human_approved: bool,
            own_texts: dict[str, tuple[str, bool]]) -> list[FieldOutcome]:
    outcomes = []
    for name in fields:
        if name == EXTDESCR and name not in own_texts:
            continue  # no long description: the field is not touched (nor reported)
        field_text, field_approved = own_texts.get(name, (text, human_approved))
        if where is Where.SIDECAR and name in (EXIF, IPTC):
            outcomes.append(policy.inapplicable(name, "a sidecar holds XMP only"))
            continue
        if where is Where.EXIFTOOL and name == IPTC:
            outcomes.append(policy.inapplicable(name, "HEIC/AVIF files carry no IPTC-IIM"))
            continue
        if name == IPTC:
            obstacle = policy.iptc_obstacle(target, field_text)
            if obstacle:
                outcomes.append(policy.inapplicable(name, obstacle))
                continue
        outcomes.append(policy.decide(name, field_text, lang, target, image=image, force=force,
                                      human_approved=field_approved))
    return outcomes


def _status(outcomes: list[FieldOutcome], dry_run: bool) -> Status:
    if any(o.action == WRITE for o in outcomes):
        return Status.DRY_RUN if dry_run else Status.WRITTEN
    if any(o.kind == "existing" for o in outcomes):
        return Status.SKIPPED_EXISTING
    return Status.UNCHANGED


def _read(data: bytes | None, what: str, where: Where, target: str) -> Metadata:
    try:
        return exiv2io.read(data)
    except MetadataError as exc:
        raise _Failed(f"cannot read {what}: {exc}", where, target) from exc


def _into_file(given: str, real: str, snap: Snapshot, image_type: str, where: Where, *, text: str, lang: str,
               fields: tuple[str, ...], force: bool, human_approved: bool, backup: bool, dry_run: bool,
               keep_mtime: bool, notes: list[str], own_texts: dict[str, tuple[str, bool]]) -> EmbedResult:
    try:
        contents = container.read(snap.data, image_type)
    except MetadataError as exc:
        raise _Failed(f"cannot read the file's metadata (damaged file?): {exc}", where, real) from exc
    before = contents.meta
    outcomes = _decide(fields, text, lang, before, image=None, where=where, force=force,
                       human_approved=human_approved, own_texts=own_texts)
    status = _status(outcomes, dry_run)
    result: dict[str, Any] = dict(path=given, where=where, target=real, fields=tuple(outcomes),
                                  notes=tuple(notes), stat_before=_stat_of(snap))
    if status is not Status.WRITTEN and status is not Status.DRY_RUN:
        return EmbedResult(status=status, stat=FileStat.of(real), **result)

    if image_type == "jpeg" and jpeg.has_nonstandard_xmp(snap.data):
        raise _Failed("the file has an XMP segment with a non-standard header; not adding a second one "
                      "(a sidecar would work)", where, real)
    plan = policy.build_plan(outcomes, text, lang, before, human_approved=human_approved, own_texts=own_texts)
    xmp_before = _xmp_before(real, snap, before, plan, where)
    try:
        original_pixels = pixels.pixel_digest(snap.data)
        if where is Where.FILE:
            new_data = _rewrite(snap.data, image_type, plan)
        else:  # exiftool gets the finished XMP packet; EXIF ImageDescription travels on its own
            xmp_plan = policy.build_plan(outcomes, text, lang, before, human_approved=human_approved,
                                         xmp_only=True, own_texts=own_texts)
            packet = exiv2io.xmp_packet(contents.xmp_packet, xmp_plan)
            description = text if any(o.field == EXIF and o.action == WRITE for o in outcomes) else None
    except (pixels.PixelError, MetadataError, png.PngError) as exc:
        raise _Failed(str(exc), where, real) from exc
    if dry_run:
        return EmbedResult(status=Status.DRY_RUN, stat=FileStat.of(real), **result)
    if snap.nlink > 1:
        notes.append(f"the file had {snap.nlink} hard links: the other names keep the old version")
        result["notes"] = tuple(notes)

    try:
        with TempFile(real) as temp:
            if where is Where.FILE:
                temp.write(new_data)
            else:
                temp.write(snap.data)
                exiftool.write(temp.path, xmp_packet=packet, image_description=description)
            temp.finish(snap, keep_mtime=keep_mtime)
            atomic.checkpoint("temp-written", real)
            on_disk = temp.read_back()
            if where is Where.FILE and on_disk != new_data:
                raise VerifyError("the temp copy on disk differs from what was written")
            _verify(contents, container.read(on_disk, image_type), plan, where)
            _verify_independent(xmp_before, temp.path, plan)
            if pixels.pixel_digest(on_disk) != original_pixels:
                raise VerifyError("the decoded pixels differ from the original's")
            backup_path = temp.commit(snap, backup=backup)
            target_stat = FileStat.of(real)
    except (SafetyError, VerifyError, MetadataError, pixels.PixelError, exiftool.ExiftoolError) as exc:
        message = str(exc)
        if isinstance(exc, VerifyError | pixels.PixelError):
            message = f"verification failed, original kept: {message}"
        raise _Failed(message, where, real) from exc
    return EmbedResult(status=Status.WRITTEN, stat=target_stat, target_stat=target_stat, backup=backup_path,
                       **result)


def _rewrite(data: bytes, image_type: str, plan: Plan) -> bytes:
    """The new file's bytes: exiv2's rewrite, with the original's own parts put back where exiv2 would
    needlessly change them (see :mod:`.png` and :mod:`.photoshop`)."""
    new_data = exiv2io.write(data, plan)
    if image_type == "png":
        new_data = png.splice_metadata(data, new_data)
    if image_type == "jpeg":
        if not any(k.startswith("Iptc.") for k in plan.all_keys()):
            new_data = photoshop.keep_original_app13(data, new_data)
        elif photoshop.digest_is_current(data):
            new_data = photoshop.refresh_iptc_digest(new_data)
    return new_data


def _verify(before: container.Contents, after: container.Contents, plan: Plan, where: Where) -> None:
    check(before.meta, after.meta, plan,
          allowed_new=_EXIFTOOL_DEFAULT_TAGS if where is Where.EXIFTOOL else frozenset())
    if before.tag_names is not None and after.tag_names is not None:  # exiftool's view, for HEIC/AVIF
        lost = before.tag_names - after.tag_names
        if lost:
            raise VerifyError(f"exiftool no longer finds {', '.join(sorted(lost)[:5])}")


def _xmp_before(path: str, snap: Snapshot, meta: Metadata, plan: Plan, where: Where) -> dict[str, object] | None:
    """exiftool's view of the XMP in ``path`` before the rewrite, for :func:`_verify_independent`; None
    without exiftool, where packets that libexiv2 might not keep whole are refused instead."""
    if exiftool.exiftool_path() is None:
        problem = legacy_xmp.obstacle(snap.data)
        if problem:
            hint = "" if where is Where.SIDECAR else " (a sidecar would work)"
            raise _Failed(f"{problem}, which libexiv2 may not rewrite whole; without exiftool to check the "
                          f"rewrite the file is left alone{hint}", where, path)
        return None
    if not snap.exists:
        return {}
    try:
        tags = exiftool.xmp_tags(path)
        changed = not snap.same_stat(os.stat(path, follow_symlinks=False))
    except (exiftool.ExiftoolError, OSError) as exc:
        raise _Failed(f"cannot check the file with exiftool: {exc}", where, path) from exc
    if changed:
        raise _Failed("the file changed while it was being read (still being copied?)", where, path)
    problem = unseen_xmp(meta, tags, plan)
    if problem:
        raise _Failed(problem, where, path)
    return tags


def _verify_independent(xmp_before: dict[str, object] | None, temp_path: str, plan: Plan) -> None:
    if xmp_before is None:
        return
    try:
        xmp_after = exiftool.xmp_tags(temp_path)
    except exiftool.ExiftoolError as exc:
        raise VerifyError(f"exiftool cannot read the rewritten copy: {exc}") from exc
    check_independent(xmp_before, xmp_after, plan)


def _into_sidecar(given: str, real: str, snap: Snapshot, image_type: str, sidecar_name: str, *, text: str,
                  lang: str, fields: tuple[str, ...], force: bool, human_approved: bool, backup: bool,
                  dry_run: bool, notes: list[str], own_texts: dict[str, tuple[str, bool]]) -> EmbedResult:
    where = Where.SIDECAR
    target = os.path.realpath(sidecar_path(real, sidecar_name))
    other = sidecar_path(real, "xmp" if sidecar_name == "ext.xmp" else "ext.xmp")
    if os.path.isfile(other) and os.path.realpath(other) != target:
        notes.append(f"another sidecar exists too: {os.path.basename(other)} (left alone)")
    try:
        side = atomic.take_snapshot(target)
    except SafetyError as exc:
        raise _Failed(f"cannot read the sidecar: {exc}", where, target) from exc
    if side.exists and atomic.is_read_only(target):
        raise _Failed("the sidecar is read-only", where, target)
    before = _read(side.data if side.exists else None, "the existing sidecar (left alone)", where, target)
    if side.exists and before.image_type != "xmp":
        raise _Failed("the existing sidecar is not an XMP file (left alone)", where, target)
    image = None
    if image_type != "none":  # what the picture itself says counts too
        try:
            image = container.read(snap.data, image_type).meta
        except MetadataError:
            notes.append("could not read the image's own metadata")
    outcomes = _decide(fields, text, lang, before, image=image, where=where, force=force,
                       human_approved=human_approved, own_texts=own_texts)
    status = _status(outcomes, dry_run)
    result: dict[str, Any] = dict(path=given, where=where, target=target, fields=tuple(outcomes),
                                  notes=tuple(notes), stat_before=_stat_of(snap))
    if status is not Status.WRITTEN:
        return EmbedResult(status=status, stat=FileStat.of(real), target_stat=FileStat.of(target), **result)

    plan = policy.build_plan(outcomes, text, lang, before, human_approved=human_approved, xmp_only=True,
                             own_texts=own_texts)
    xmp_before = _xmp_before(target, side, before, plan, where)
    try:
        new_data = exiv2io.write(side.data if side.exists else None, plan)
        with TempFile(target) as temp:
            temp.write(new_data)
            # A sidecar's mtime is left to advance: darktable and digiKam notice changed sidecars by it.
            temp.finish(side, keep_mtime=False, default_mode=(snap.mode & 0o666) | 0o600)
            atomic.checkpoint("temp-written", target)
            on_disk = temp.read_back()
            if on_disk != new_data:
                raise VerifyError("the temp copy on disk differs from what was written")
            check(before, exiv2io.read(on_disk), plan)
            _verify_independent(xmp_before, temp.path, plan)
            backup_path = temp.commit(side, backup=backup)
    except (SafetyError, VerifyError, MetadataError) as exc:
        message = str(exc)
        if isinstance(exc, VerifyError):
            message = f"verification failed, sidecar kept: {message}"
        raise _Failed(message, where, target) from exc
    return EmbedResult(status=Status.WRITTEN, stat=FileStat.of(real), target_stat=FileStat.of(target),
                       backup=backup_path, **result)

"""Writing indexed alt text into the photos' own metadata, and remembering what was written where.

The metadata library (``alttext.metadata``) does the safe per-file write; this module picks the files
and the caption for each, decides how forceful to be, and records the outcome in the index so that
``alttext show`` can say it and our own write never looks like a new photo to the next scan.

The write-back queue is the index's state: a file is waiting while its current caption is not the one
last written into it (``embed_queue``), so a run killed or stopped half-way leaves nothing to remember.
A write that failed or was skipped gets a hold (a ``jobs`` row) so that the daemon doesn't retry it at
every round. Nothing is written outside the folders the run was given, links included (``write_roots``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, text, update

from alttext.backoff import backoff_seconds
from alttext.config import Settings
from alttext.index.captions import reviewed_by_person
from alttext.index.db import Index
from alttext.index.embed_backlog import PARKED, QUEUED, held, not_embedded
from alttext.index.models import EMBED_JOB, INDEXED, UtcDateTime, captions, files, images, jobs, roots, utcnow
from alttext.index.selection import named
from alttext.paths import display_path, folder_range, is_under_any
from alttext.vocabulary import EMBED_FIELDS

if TYPE_CHECKING:
    from alttext.index.ingest import ExistingReader  # not at run time: `status` and `show` don't need ingest

# Holds (``jobs`` rows of kind ``embed``, QUEUED or PARKED: index/embed_backlog.py): a failed write-back
# is retried after 1 min, 4 min, then parked; a skipped one is parked at once. Parked holds wait for a new
# caption or `alttext embed`.
EMBED_MAX_ATTEMPTS = 3
EMBED_RETRY_BASE = 60.0
EMBED_RETRY_CAP = 6 * 3600.0


@dataclass(frozen=True)
class EmbedOptions:
    lang: str = "en"
    fields: frozenset[str] = frozenset({"alt"})
    force: bool = False
    sidecar: bool | None = None  # None: by format (RAW, read-only -> sidecar)
    sidecar_name: str = "ext.xmp"
    backup: bool = False
    keep_mtime: bool = True
    dry_run: bool = False


class EmbedSettingsError(ValueError):
    """Write-back options that can't be used; the message names the choices."""


def parse_fields(value: str) -> frozenset[str]:
    """``alt,extdescr`` -> the fields to write."""
    fields = frozenset(part.strip() for part in value.split(",") if part.strip())
    if not fields or fields - set(EMBED_FIELDS):
        raise EmbedSettingsError(f"choose from {','.join(EMBED_FIELDS)} (comma-separated)")
    return fields


def embed_options(settings: Settings, *, fields: str | None = None, lang: str | None = None,
                  force_sidecar: bool = False, sidecar_name: str | None = None, force: bool = False,
                  backup: bool = False, dry_run: bool = False) -> EmbedOptions:
    """Options from the settings, each overridable (``alttext embed`` flags, ``scan --embed``, ``watch --embed``)."""
    return EmbedOptions(
        lang=lang or settings.lang,
        fields=parse_fields(fields or settings.embed_fields),
        force=force,
        sidecar=True if force_sidecar else None,
        sidecar_name=sidecar_name or settings.sidecar_name,
        backup=backup,
        dry_run=dry_run,
    )


@dataclass
class Target:
    file_id: int
    path: str
    caption_id: int
    text: str
    source: str
    status: str
    embedded_caption_id: int | None
    # The long description for ExtDescrAccessibility: the caption's own, else (a person's edit has none)
    # the newest model description of the picture, as `show` picks it (docs/architecture.md §13).
    description: str | None = None
    description_is_own: bool = False
    description_id: int | None = None  # the caption that description belongs to (files.embedded_description_id)
    embedded_description_id: int | None = None  # the one last written

    @property
    def description_approved(self) -> bool:
        """A person approved the description only by approving the caption it belongs to."""
        return self.description_is_own and reviewed_by_person(self.source, self.status)


def _target_query() -> Any:
    # The description the file should carry is the image's (images.description_id, kept by
    # refresh_current_caption): the caption's own, else the picture's newest.
    described = captions.alias("described")
    return (
        select(files.c.id, files.c.path, files.c.embedded_caption_id, files.c.embedded_description_id,
               captions.c.id.label("caption_id"), captions.c.text, captions.c.source, captions.c.status,
               images.c.description_id, described.c.description)
        .join(images, images.c.id == files.c.image_id)
        .join(captions, captions.c.id == images.c.caption_id)
        .outerjoin(described, described.c.id == images.c.description_id)
        .where(files.c.state == INDEXED)
        .order_by(files.c.path)
    )


def _target(row: Any) -> Target:
    return Target(row.id, row.path, row.caption_id, row.text, row.source, row.status, row.embedded_caption_id,
                  description=row.description or None, description_is_own=row.description_id == row.caption_id,
                  description_id=row.description_id, embedded_description_id=row.embedded_description_id)


def _not_embedded(query: Any, dialect: str) -> Any:
    """Files whose current caption (or long description) is not in them yet: the rule, as SQL text that
    ``alttext status`` counts with too, is index/embed_backlog.py's."""
    return query.where(text(not_embedded(dialect)))


def _held(dialect: str, now: datetime, *, negate: bool = False) -> Any:
    """The file's write-back of its current caption (and description) was held back (failed and not due
    again, or parked)."""
    clause = ("NOT " if negate else "") + held(dialect)
    return text(clause).bindparams(bindparam("now", now, type_=UtcDateTime))


def _below(query: Any, under: list[str] | None) -> Any:
    if under is None:
        return query
    ranges = [folder_range(folder) for folder in under]
    return query.where(or_(*(and_(files.c.path >= low, files.c.path < high) for low, high in ranges)))


def embed_queue(index: Index, *, under: list[str] | None = None, include_held: bool = False,
                limit: int | None = None) -> list[Target]:
    """The durable write-back queue: files whose current caption is not embedded yet, below the folders
    ``under`` (all when None), in path order. It is a question about the index's state, not a list kept
    anywhere, so whatever a killed or stopped run left is found again by the next one. Files held back
    after a failure (until their retry is due) or a skip are left out unless ``include_held``."""
    query = _below(_not_embedded(_target_query(), index.dialect), under)
    if not include_held:
        query = query.where(_held(index.dialect, utcnow(), negate=True))
    if limit is not None:
        query = query.limit(limit)
    with index.read() as connection:
        return [_target(row) for row in connection.execute(query)]


def select_targets(index: Index, paths: list[str] | None) -> tuple[list[Target], list[str]]:
    """Files to embed: the named files and everything indexed below named folders, or (no paths) every
    indexed file whose current caption is not embedded yet, held back or not (a person asked). Also
    returns named paths not in the index."""
    query = _target_query()
    unknown: list[str] = []
    with index.read() as connection:
        if not paths:
            rows = connection.execute(_not_embedded(query, index.dialect)).all()
        else:
            rows = []
            for path in paths:
                found = connection.execute(named(query, path)[0]).all()
                if not found:
                    unknown.append(path)
                rows.extend(found)
    return [_target(row) for row in rows], unknown


def write_roots(index: Index, paths: list[str] | None) -> list[str]:
    """The folders (or files) a write-back may write inside: the paths named, else the index's scanned
    roots. Resolved, so that a file reached through a link is judged by where it really is."""
    if not paths:
        with index.read() as connection:
            paths = [row.path for row in connection.execute(select(roots.c.path))]
    return [os.path.realpath(os.path.abspath(path)) for path in paths]


def _outside(target: Target, within: list[str]) -> str | None:
    """Why ``target`` must not be written (its real file is outside ``within``), or None."""
    real = os.path.realpath(target.path)
    if is_under_any(real, within):
        return None
    return (f"not written: it links to {display_path(real)}, outside the folders being embedded"
            " (links are followed only to files inside them; name the file itself to write it)")


def embed_targets(
    index: Index,
    targets: list[Target],
    options: EmbedOptions,
    *,
    within: list[str],
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Target, Any]]:
    """Embed each target's caption; yields (target, EmbedResult). Per-file failures are results.

    Nothing is written outside ``within`` (resolved paths, see ``write_roots``): a file whose real path
    is elsewhere (a link leading out) is a failed result saying so. The outcome is kept in the index:
    what was written where, or a hold that keeps a failed or skipped file out of ``embed_queue`` until
    its retry is due (or its caption changes)."""
    from alttext.index.own_writes import record_own_write
    from alttext.metadata import EmbedResult, Status, Where, embed

    for target in targets:
        if should_stop():
            return
        outside = _outside(target, within)
        if outside is not None:
            result = EmbedResult(target.path, Status.FAILED, error=outside)
            if not options.dry_run:
                _hold(index, target, outside, park=True)
            yield target, result
            continue
        # Replacing alttext's own earlier caption needs force in the library; a person's text additionally
        # needs the caption to be human-approved, which the library checks itself.
        # The same for a description: the picture's newer one replaces what alttext wrote from an older one.
        previously_ours = target.embedded_caption_id is not None and (
            target.embedded_caption_id != target.caption_id or target.embedded_description_id != target.description_id)
        result = embed(
            target.path, target.text, lang=options.lang, fields=set(options.fields),
            force=options.force or previously_ours, human_approved=reviewed_by_person(target.source, target.status),
            sidecar=options.sidecar, sidecar_name=options.sidecar_name, backup=options.backup,
            keep_mtime=options.keep_mtime, dry_run=options.dry_run,
            long_description=target.description, long_description_approved=target.description_approved,
        )
        if result.status in (Status.WRITTEN, Status.UNCHANGED):
            if result.status == Status.WRITTEN and result.stat is not None and result.where != Where.SIDECAR:
                record_own_write(index, target.path, result.stat, before=result.stat_before)
            with index.write() as connection:
                connection.execute(
                    update(files).where(files.c.id == target.file_id).values(
                        embedded_caption_id=target.caption_id,
                        # what the file should carry now, written or (extdescr not asked for) not
                        embedded_description_id=target.description_id,
                        embedded_where=result.target if result.where == Where.SIDECAR else str(result.where),
                        embedded_at=utcnow(),
                    )
                )
                connection.execute(delete(jobs).where(jobs.c.kind == EMBED_JOB, jobs.c.target_id == target.file_id))
        elif result.status == Status.SKIPPED_EXISTING:
            # A person's (or another program's) text is kept: nothing changes until the caption does.
            reasons = "; ".join(f"{name}: {why}" for name, why in result.skipped.items())
            _hold(index, target, f"skipped: {reasons}" if reasons else "skipped", park=True)
        elif result.status == Status.FAILED:
            _hold(index, target, result.error or "failed", park=False)
        yield target, result


def _hold(index: Index, target: Target, error: str, *, park: bool) -> None:
    """Keep a file whose write-back failed (retried with backoff, then parked) or was skipped (parked)
    out of the queue. One job per file; a new caption starts its count again."""
    now = utcnow()
    with index.write() as connection:
        earlier = connection.execute(
            select(jobs.c.attempts, jobs.c.payload).where(jobs.c.kind == EMBED_JOB, jobs.c.target_id == target.file_id)
        ).first()
        payload = {"caption_id": target.caption_id, "description_id": target.description_id}
        same_caption = earlier is not None and all((earlier.payload or {}).get(key) == value
                                                   for key, value in payload.items())
        attempts = (earlier.attempts if earlier is not None and same_caption else 0) + 1
        parked = park or attempts >= EMBED_MAX_ATTEMPTS
        delay = backoff_seconds(attempts, base=EMBED_RETRY_BASE, factor=4, cap=EMBED_RETRY_CAP)
        connection.execute(delete(jobs).where(jobs.c.kind == EMBED_JOB, jobs.c.target_id == target.file_id))
        connection.execute(
            insert(jobs).values(
                kind=EMBED_JOB, target_id=target.file_id, attempts=attempts,
                next_try_at=now + timedelta(seconds=delay), state=PARKED if parked else QUEUED,
                last_error=error, payload=payload, created_at=now,
            )
        )


def existing_caption_reader(lang: str) -> ExistingReader:
    """For ingest: the text a photo's own metadata already holds (alt text, description, ...) and its long
    description (ExtDescrAccessibility), if any.

    Camera boilerplate ("OLYMPUS DIGITAL CAMERA") and text alttext itself wrote from a model are skipped
    (``pick_caption``, ``pick_description``); a person's alt text becomes a caption of source ``metadata``,
    with the person's description beside it.
    """
    from alttext.metadata import FoundText, pick_caption, pick_description, read_descriptions

    def read(path: str) -> FoundText | None:
        existing = read_descriptions(path)
        alt, description = pick_caption(existing, lang), pick_description(existing, lang)
        if alt is None and description is None:
            return None
        return FoundText(alt.text if alt else None, description.text if description else None)

    return read

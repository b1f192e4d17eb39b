"""Writing indexed alt text into the photos' own metadata, and remembering what was written where.

The metadata library (``alttext.metadata``) does the safe per-file write; this module picks the files
and the caption for each, decides how forceful to be, and records the outcome in the index so that
``alttext show`` can say it and our own write never looks like a new photo to the next scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from alttext.config import Settings
from alttext.index.captions import reviewed_by_person
from alttext.index.db import Index
from alttext.index.models import INDEXED, SOURCE_METADATA, Caption, File, Image, utcnow
from alttext.index.selection import named
from alttext.paths import folder_range
from alttext.vocabulary import EMBED_FIELDS

files = File.__table__
images = Image.__table__
captions = Caption.__table__


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
    """``alt,description`` -> the fields to write."""
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


def _target_query() -> Any:
    return (
        select(files.c.id, files.c.path, files.c.embedded_caption_id, captions.c.id.label("caption_id"),
               captions.c.text, captions.c.source, captions.c.status)
        .join(images, images.c.id == files.c.image_id)
        .join(captions, captions.c.id == images.c.caption_id)
        .where(files.c.state == INDEXED)
        .order_by(files.c.path)
    )


def _target(row: Any) -> Target:
    return Target(row.id, row.path, row.caption_id, row.text, row.source, row.status, row.embedded_caption_id)


def _not_embedded(query: Any) -> Any:
    """Files whose current caption is not in them yet (text that came from the file is already there)."""
    return query.where(
        or_(files.c.embedded_caption_id.is_(None), files.c.embedded_caption_id != captions.c.id),
        captions.c.source != SOURCE_METADATA,
    )


def pending_targets(index: Index, *, under: list[str] | None = None, indexed_since: datetime | None = None
                    ) -> list[Target]:
    """Files whose current caption is not embedded yet: below the folders ``under`` (all when None),
    indexed since ``indexed_since`` (any time when None)."""
    query = _not_embedded(_target_query())
    if indexed_since is not None:
        query = query.where(files.c.indexed_at >= indexed_since)
    if under is not None:
        ranges = [folder_range(folder) for folder in under]
        query = query.where(or_(*(and_(files.c.path >= low, files.c.path < high) for low, high in ranges)))
    with index.read() as connection:
        return [_target(row) for row in connection.execute(query)]


def select_targets(index: Index, paths: list[str] | None) -> tuple[list[Target], list[str]]:
    """Files to embed: the named files and everything indexed below named folders, or (no paths) every
    indexed file whose current caption is not embedded yet. Also returns named paths not in the index."""
    query = _target_query()
    unknown: list[str] = []
    with index.read() as connection:
        if not paths:
            rows = connection.execute(_not_embedded(query)).all()
        else:
            rows = []
            for path in paths:
                found = connection.execute(named(query, path)[0]).all()
                if not found:
                    unknown.append(path)
                rows.extend(found)
    return [_target(row) for row in rows], unknown


def embed_targets(
    index: Index,
    targets: list[Target],
    options: EmbedOptions,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Target, Any]]:
    """Embed each target's caption; yields (target, EmbedResult). Per-file failures are results."""
    from alttext.index.own_writes import record_own_write
    from alttext.metadata import Status, Where, embed

    for target in targets:
        if should_stop():
            return
        # Replacing alttext's own earlier caption needs force in the library; a person's text additionally
        # needs the caption to be human-approved, which the library checks itself.
        previously_ours = target.embedded_caption_id is not None and target.embedded_caption_id != target.caption_id
        result = embed(
            target.path, target.text, lang=options.lang, fields=set(options.fields),
            force=options.force or previously_ours, human_approved=reviewed_by_person(target.source, target.status),
            sidecar=options.sidecar, sidecar_name=options.sidecar_name, backup=options.backup,
            keep_mtime=options.keep_mtime, dry_run=options.dry_run,
        )
        if result.status in (Status.WRITTEN, Status.UNCHANGED):
            if result.status == Status.WRITTEN and result.stat is not None and result.where != Where.SIDECAR:
                record_own_write(index, target.path, result.stat, before=result.stat_before)
            with index.write() as connection:
                connection.execute(
                    update(files).where(files.c.id == target.file_id).values(
                        embedded_caption_id=target.caption_id,
                        embedded_where=result.target if result.where == Where.SIDECAR else str(result.where),
                        embedded_at=utcnow(),
                    )
                )
        yield target, result


def existing_caption_reader(lang: str) -> Callable[[str], str | None]:
    """For ingest: the text a photo's own metadata already holds (alt text, description, ...), if any.

    Camera boilerplate ("OLYMPUS DIGITAL CAMERA") and captions alttext itself wrote from a model are
    skipped by ``pick_caption``; a person's text becomes a caption of source ``metadata``.
    """
    from alttext.metadata import pick_caption, read_descriptions

    def read(path: str) -> str | None:
        candidate = pick_caption(read_descriptions(path), lang)
        return candidate.text if candidate else None

    return read

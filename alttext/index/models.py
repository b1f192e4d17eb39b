"""The index's tables (docs/architecture.md §2–3). The schema itself is created only by Alembic migrations;
these are SQLAlchemy Core ``Table`` objects on one ``MetaData`` (no ORM: importing it costs the read
commands ~50 ms, docs/architecture.md §6), which tests/test_migrations.py checks against the migrations.

A *file* is a path with a cheap change check (device, inode, size, mtime). An *image* is content: the
hash of its compressed picture data and orientation (or of its decoded pixels). Captions belong to
images, so renames, moves and duplicates cost no model call, and a metadata-only edit keeps the caption.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    CursorResult,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy import text as sql_text

# The words of caption provenance and review status, file states ("pending" rows are the durable work
# queue of a scan) and file jobs live in alttext.vocabulary (SQL-free code needs them); re-exported here.
from alttext.vocabulary import EMBED_JOB as EMBED_JOB
from alttext.vocabulary import FAILED as FAILED
from alttext.vocabulary import FILE_JOB_KINDS as FILE_JOB_KINDS
from alttext.vocabulary import FILE_STATES as FILE_STATES
from alttext.vocabulary import INDEXED as INDEXED
from alttext.vocabulary import MISSING as MISSING
from alttext.vocabulary import PENDING as PENDING
from alttext.vocabulary import RETRY_FILE_JOB as RETRY_FILE_JOB
from alttext.vocabulary import SOURCE_HUMAN as SOURCE_HUMAN
from alttext.vocabulary import SOURCE_METADATA as SOURCE_METADATA
from alttext.vocabulary import SOURCE_MODEL as SOURCE_MODEL
from alttext.vocabulary import STATUS_APPROVED as STATUS_APPROVED
from alttext.vocabulary import STATUS_EDITED as STATUS_EDITED
from alttext.vocabulary import STATUS_GENERATED as STATUS_GENERATED
from alttext.vocabulary import WORKER_ACTIVE as WORKER_ACTIVE
from alttext.vocabulary import WORKER_LOST as WORKER_LOST
from alttext.vocabulary import WORKER_STOPPED as WORKER_STOPPED


def utcnow() -> datetime:
    return datetime.now(UTC)


def inserted_id(result: CursorResult[Any]) -> int:
    """The new row's primary key, from the result of a single-row INSERT."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])


class FsPath(TypeDecorator[str]):
    """A file-system path stored as its raw bytes.

    Linux file names are bytes; a name that is not valid UTF-8 can't be stored as SQLite TEXT, and
    Python represents it with surrogate escapes. Storing ``os.fsencode(path)`` keeps every name exact.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        return os.fsencode(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return os.fsdecode(value)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored naive-UTC by SQLite; hand them back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


metadata = MetaData(naming_convention=NAMING)



roots = Table(
    "roots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", FsPath, nullable=False, unique=True),
    Column("added_at", UtcDateTime, nullable=False, default=utcnow),
    Column("last_scan_at", UtcDateTime),
)

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    # The key the image was made with: the hash of its decoded pixels for images indexed before migration
    # 0006 (and for formats keyed by pixels); since then, for JPEG/PNG/WebP, the same value as content_hash.
    Column("pixel_hash", String(64), nullable=False, unique=True),
    # The key of its compressed picture data and orientation (index/fingerprint.py, docs/architecture.md §2);
    # NULL for an image of an older index until one of its files is read again (index/content_backfill.py).
    Column("content_hash", String(64), unique=True, index=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    # The caption shown and searched: the best one by docs/architecture.md §3 (human > metadata > newest model).
    Column("caption_id", Integer, ForeignKey("captions.id", use_alter=True), index=True),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    # The caption whose long description the picture has: the current caption's own, else the newest one
    # (a person's edit has none; §13). Kept by refresh_current_caption, so that the write-back queue and
    # `status` compare it with files.embedded_description_id without a lookup per file (migration 0008).
    Column("description_id", Integer),
    # Vectors claimed like files (migration 0010; docs/architecture.md §16): the caption whose sentence vector
    # was stored (set by every store, cleared by a trigger when that vector is dropped), and the worker that
    # claimed the picture's vector work. A picture waits for a vector while the two captions differ.
    Column("vectored_caption_id", Integer),
    Column("vector_owner", Integer),
    Index("ix_images_vector_pending", "vector_owner", "id",
          sqlite_where=sql_text("caption_id IS NOT NULL AND vectored_caption_id IS NOT caption_id"),
          postgresql_where=sql_text(
              "(caption_id IS NOT NULL AND vectored_caption_id IS DISTINCT FROM caption_id) IS TRUE")),
    # releases: a picture stays claimed whatever happens to its caption meanwhile (0010)
    Index("ix_images_vector_owner", "vector_owner", sqlite_where=sql_text("vector_owner IS NOT NULL"),
          postgresql_where=sql_text("vector_owner IS NOT NULL")),
)

captions = Table(
    "captions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("text", Text, nullable=False),  # the alt text
    Column("raw_text", Text),  # what the model (or the file) said
    # A prompt-driven model's long description of the same picture (migration 0007; docs/architecture.md §13).
    Column("description", Text),
    # Text read in the picture (a sign, a slide, a screenshot): Florence-2 <OCR>, a chat VLM asked for it, or
    # an OCR engine; kept apart from the alt text, which it is folded into only when the picture is mostly
    # text (migration 0008; docs/architecture.md §15).
    Column("image_text", Text),
    Column("source", String(16), nullable=False),
    Column("model", Text),
    Column("model_revision", String(64)),
    Column("params", JSON),
    Column("status", String(16), nullable=False, default=STATUS_GENERATED),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    # "The picture's newest description / image text" (§13, §15): most captions have neither, so these stay
    # tiny and the usual answer, none, is one probe (migration 0008).
    Index("ix_captions_described", "image_id", sqlite_where=sql_text("description <> ''"),
          postgresql_where=sql_text("description <> ''")),
    Index("ix_captions_image_text", "image_id", sqlite_where=sql_text("image_text <> ''"),
          postgresql_where=sql_text("image_text <> ''")),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("root_id", Integer, ForeignKey("roots.id", ondelete="SET NULL"), index=True),
    Column("path", FsPath, nullable=False, unique=True),
    Column("dir", FsPath, nullable=False, index=True),  # parent folder: a rescan reads one folder at a time
    Column("name", Text, nullable=False),  # display name (UTF-8), searched by FTS
    # The folders between the scan root and the file ("2024/Holiday Spain"), display text (UTF-8, a
    # non-UTF-8 name decoded lossily), searched by FTS with the name (migration 0005); path stays the identity.
    Column("folder", Text),
    # When the photo was taken, by the camera's clock: EXIF DateTimeOriginal (else DateTimeDigitized) as
    # "YYYY-MM-DDTHH:MM:SS", read from the header at ingest; "" when the file has none, NULL until read
    # (migration 0005; docs/architecture.md §11).
    Column("taken_at", String(19)),
    Column("dev", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("image_id", Integer, ForeignKey("images.id", ondelete="SET NULL")),
    Column("state", String(16), nullable=False, default=PENDING, index=True),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("seen_at", UtcDateTime, nullable=False, default=utcnow),
    Column("missing_since", UtcDateTime),
    Column("indexed_at", UtcDateTime),
    # Metadata write-back (alttext embed): what was written, where, when.
    Column("embedded_caption_id", Integer, ForeignKey("captions.id", ondelete="SET NULL")),
    Column("embedded_where", Text),
    Column("embedded_at", UtcDateTime),
    # The caption whose long description was written (ExtDescrAccessibility): a person's edit has none, so a
    # newer model description re-queues the file (migration 0008; no foreign key, see there).
    Column("embedded_description_id", Integer),
    # The worker (``workers.id``) that claimed this pending file (migration 0009; docs/architecture.md §16);
    # NULL: nobody holds it. The lease is the worker's own (``workers.lease_until``).
    Column("lease_owner", Integer),
    Index("ix_files_image_id_state", "image_id", "state"),
    # date filters: a range of dates, and their images' id span from the index alone (migration 0005)
    Index("ix_files_taken_at", "taken_at", "image_id"),
    # claims: unclaimed pending files in id order, or one worker's pending files; only pending rows (0009)
    Index("ix_files_pending_lease", "lease_owner", "id", sqlite_where=sql_text("state = 'pending'"),
          postgresql_where=sql_text("state = 'pending'")),
    # releases: whatever a worker holds, in any state (a claimed file may go missing, then come back pending),
    # from an index of the claimed rows only (0010)
    Index("ix_files_leased", "lease_owner", sqlite_where=sql_text("lease_owner IS NOT NULL"),
          postgresql_where=sql_text("lease_owner IS NOT NULL")),
)

variants = Table(
    "variants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("style", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("llm_model", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
)

# Durable background work (embedding, variants, retries) that must survive a restart.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target_id", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try_at", UtcDateTime, nullable=False, default=utcnow, index=True),
    Column("last_error", Text),
    Column("state", String(16), nullable=False, default="queued"),
    Column("payload", JSON),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    # The worker that claimed a variants job (migration 0010); NULL: none (a watcher's own run leases a job by
    # pushing next_try_at ahead instead).
    Column("lease_owner", Integer),
    Index("ix_jobs_kind_target_id", "kind", "target_id"),
    Index("ix_jobs_variants_due", "lease_owner", "next_try_at", "id",
          sqlite_where=sql_text("kind = 'variants' AND state = 'queued'"),
          postgresql_where=sql_text("kind = 'variants' AND state = 'queued'")),
    Index("ix_jobs_leased", "lease_owner", sqlite_where=sql_text("lease_owner IS NOT NULL"),
          postgresql_where=sql_text("lease_owner IS NOT NULL")),  # releases, in any state
)

# A caption's sentence vector, for search by meaning (``alttext.search.vectors``; migrations 0002-0003).
# Raw little-endian float32 bytes of unit length, keyed by caption: an edit is a new caption, which has no
# vector until one is computed, and a trigger (0002) drops a vector whose caption text changes in place.
caption_embeddings = Table(
    "caption_embeddings",
    metadata,
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_caption_embeddings_model_dim_created", "model", "dim", "created_at", "caption_id"),
)

# One row: this index's random id (migration 0004), which tells its row ids from another index's.
index_identity = Table(
    "index_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
)

# One row per registration of an ``alttext worker`` (migration 0009; docs/architecture.md §16).
workers = Table(
    "workers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("model", Text),
    Column("state", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),  # by the database's clock, not the worker's
    Column("files_done", Integer, nullable=False),  # files it indexed (captioned, re-used, imported)
    Column("images_done", Integer, nullable=False),  # of those, pictures it ran through the model
    # The kinds of work it takes ("captions,vectors,variants") and what it did of the last two (migration 0010).
    Column("kinds", Text, nullable=False, server_default="captions"),
    Column("vectors_done", Integer, nullable=False, server_default="0"),
    Column("variants_done", Integer, nullable=False, server_default="0"),
    Index("ix_workers_state_lease_until", "state", "lease_until"),
)

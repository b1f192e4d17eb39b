"""The index's tables (docs/architecture.md §2–3). The schema itself is created only by Alembic migrations.

A *file* is a path with a cheap change check (device, inode, size, mtime). An *image* is content: the
hash of its compressed picture data and orientation (or of its decoded pixels). Captions belong to
images, so renames, moves and duplicates cost no model call, and a metadata-only edit keeps the caption.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Caption provenance and review status: the words live in alttext.vocabulary; re-exported for the index.
from alttext.vocabulary import SOURCE_HUMAN as SOURCE_HUMAN
from alttext.vocabulary import SOURCE_METADATA as SOURCE_METADATA
from alttext.vocabulary import SOURCE_MODEL as SOURCE_MODEL
from alttext.vocabulary import STATUS_APPROVED as STATUS_APPROVED
from alttext.vocabulary import STATUS_EDITED as STATUS_EDITED
from alttext.vocabulary import STATUS_GENERATED as STATUS_GENERATED


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        # Every model here is a plain declarative table, so ``Model.__table__`` is a Table (which
        # insert/update/delete accept), not the general FromClause SQLAlchemy declares.
        __table__: ClassVar[Table]


# File states. "pending" rows are the durable work queue of a scan.
PENDING, INDEXED, FAILED, MISSING = "pending", "indexed", "failed", "missing"
FILE_STATES = (PENDING, INDEXED, FAILED, MISSING)

# ``jobs.kind`` of the durable work that belongs to a file row (``jobs.target_id`` is the file's id).
RETRY_FILE_JOB = "retry-file"  # alttext.index.file_retries
EMBED_JOB = "embed"  # alttext.index.writeback: a write-back held back after it failed or was skipped
FILE_JOB_KINDS = (RETRY_FILE_JOB, EMBED_JOB)


class Root(Base):
    __tablename__ = "roots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_scan_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The key the image was made with: the hash of its decoded pixels for images indexed before migration
    # 0006 (and for formats keyed by pixels); since then, for JPEG/PNG/WebP, the same value as content_hash.
    pixel_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key of its compressed picture data and orientation (index/fingerprint.py, docs/architecture.md §2);
    # NULL for an image of an older index until one of its files is read again (index/content_backfill.py).
    content_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The caption shown and searched: the best one by docs/architecture.md §3 (human > metadata > newest model).
    caption_id: Mapped[int | None] = mapped_column(ForeignKey("captions.id", use_alter=True), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Caption(Base):
    __tablename__ = "captions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)  # the alt text
    raw_text: Mapped[str | None] = mapped_column(Text)  # what the model (or the file) said
    # A prompt-driven model's long description of the same picture (migration 0007; docs/architecture.md §13).
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(Text)
    model_revision: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_GENERATED)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_image_id_state", "image_id", "state"),
        # date filters: a range of dates, and their images' id span from the index alone (migration 0005)
        Index("ix_files_taken_at", "taken_at", "image_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root_id: Mapped[int | None] = mapped_column(ForeignKey("roots.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    dir: Mapped[str] = mapped_column(FsPath, index=True)  # parent folder: a rescan reads one folder at a time
    name: Mapped[str] = mapped_column(Text)  # display name (UTF-8), searched by FTS
    # The folders between the scan root and the file ("2024/Holiday Spain"), display text (UTF-8, a
    # non-UTF-8 name decoded lossily), searched by FTS with the name (migration 0005); path stays the identity.
    folder: Mapped[str | None] = mapped_column(Text)
    # When the photo was taken, by the camera's clock: EXIF DateTimeOriginal (else DateTimeDigitized) as
    # "YYYY-MM-DDTHH:MM:SS", read from the header at ingest; "" when the file has none, NULL until read
    # (migration 0005; docs/architecture.md §11).
    taken_at: Mapped[str | None] = mapped_column(String(19))
    dev: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    missing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    indexed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Metadata write-back (alttext embed): what was written, where, when.
    embedded_caption_id: Mapped[int | None] = mapped_column(ForeignKey("captions.id", ondelete="SET NULL"))
    embedded_where: Mapped[str | None] = mapped_column(Text)
    embedded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Variant(Base):
    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caption_id: Mapped[int] = mapped_column(ForeignKey("captions.id", ondelete="CASCADE"), index=True)
    style: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    llm_model: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Job(Base):
    """Durable background work (embedding, variants, retries) that must survive a restart."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_kind_target_id", "kind", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CaptionVector(Base):
    """A caption's sentence vector, for search by meaning (``alttext.search.vectors``; migrations 0002-0003).

    Raw little-endian float32 bytes of unit length, keyed by caption: an edit is a new caption, which has
    no vector until one is computed, and a trigger (0002) drops a vector whose caption text changes in
    place. The table keeps the name it was created with.
    """

    __tablename__ = "caption_embeddings"
    __table_args__ = (Index("ix_caption_embeddings_model_dim_created", "model", "dim", "created_at", "caption_id"),)

    caption_id: Mapped[int] = mapped_column(ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)



class IndexIdentity(Base):
    """One row: this index's random id (migration 0004), which tells its row ids from another index's."""

    __tablename__ = "index_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

"""What :func:`alttext.metadata.embed` reports for one file."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from alttext.metadata.policy import SKIP, WRITE, FieldOutcome


class Status(StrEnum):
    WRITTEN = "written"  # at least one field was written
    SKIPPED_EXISTING = "skipped-existing"  # nothing written: existing values were kept
    UNCHANGED = "unchanged"  # nothing to write: the text is already there (or no field applies)
    DRY_RUN = "dry-run"  # something would have been written
    FAILED = "failed"  # nothing written; see ``error``


class Where(StrEnum):
    FILE = "file"  # into the image, through exiv2
    SIDECAR = "sidecar"  # into an XMP sidecar beside it
    EXIFTOOL = "exiftool"  # into the image, through exiftool (HEIC/AVIF)


@dataclass(frozen=True)
class FileStat:
    """The identity the index keys a file on; recorded after alttext's own write so that the watcher
    and the next scan recognise the file as already handled."""

    size: int
    mtime_ns: int
    inode: int
    dev: int | None = None

    @classmethod
    def of(cls, path: str) -> FileStat | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass(frozen=True)
class EmbedResult:
    path: str  # the image, as given
    status: Status
    where: Where | None = None  # None when failed before a route was chosen
    target: str | None = None  # the file (to be) written: the image itself or its sidecar
    fields: tuple[FieldOutcome, ...] = ()
    error: str | None = None  # one line, only when failed
    stat: FileStat | None = None  # the image file after the operation (unchanged for a sidecar)
    stat_before: FileStat | None = None  # the image file as alttext read it (its snapshot)
    target_stat: FileStat | None = None  # the written target after the write (the sidecar's own)
    backup: str | None = None  # NAME_original, when backup=True made one
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    @property
    def written(self) -> tuple[str, ...]:
        """Fields written (or, in a dry run, that would be)."""
        if self.status not in (Status.WRITTEN, Status.DRY_RUN):
            return ()
        return tuple(f.field for f in self.fields if f.action == WRITE)

    @property
    def skipped(self) -> dict[str, str]:
        """Field -> why it was not written."""
        return {f.field: f.reason for f in self.fields if f.action == SKIP}

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for ``alttext embed --json``)."""
        data = asdict(self)
        data["status"] = str(self.status)
        data["where"] = str(self.where) if self.where else None
        data["written"] = list(self.written)
        data["fields"] = [{**asdict(f), "label": f.label} for f in self.fields]
        return data

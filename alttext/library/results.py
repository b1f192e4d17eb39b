"""What ``Library`` returns and raises: plain data for any face to show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from alttext.index.scan import ScanSummary
    from alttext.index.writeback import Target
    from alttext.library.after_index import AfterIndexReport
    from alttext.metadata import EmbedResult
    from alttext.search.fts import SearchHit

SearchMode = Literal["auto", "words", "meaning"]
# progress(label, total) -> advance(n): a progress bar, or None to stay quiet
Progress = Callable[[str, int | None], Callable[[int], None]]


def same_picture_note(count: int) -> str:
    """What an edit or approval also changed: captions belong to pictures, so every copy shares them."""
    return f" (and {count} other file{'s' if count != 1 else ''} with the same picture)" if count else ""


class SearchUnavailable(Exception):
    """Search by meaning can't run (the optional extra is missing, or nothing has vectors yet)."""


class PhotoUnavailable(LookupError):
    """No photo with that id, or it can't be read or decoded now; the message says which."""


@dataclass
class PhotoCard:
    """One file as a browser lists it."""

    file_id: int
    path: str
    name: str
    alt_text: str | None
    status: str | None
    source: str | None
    error: str | None  # why a failed file has no alt text


@dataclass
class BrowsePage:
    items: list[PhotoCard]
    next_after: str | None  # the cursor of the next page (None: this is the last one)


@dataclass
class CaptionResult:
    """One captioned file or URL (``alt_text``), or why it could not be (``error``)."""

    location: str
    is_url: bool
    alt_text: str | None
    raw_caption: str | None
    model: str
    error: str | None
    seconds: float | None = None  # time the model took for this item, where measured on its own
    description: str | None = None  # the long description, with ``describe`` and a prompt-driven model
    image_text: str | None = None  # text read in the picture, with ``read_text`` and a prompt-driven model

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ScanResult:
    summary: ScanSummary
    after: AfterIndexReport  # write-back (scan --embed) and vectors


@dataclass
class SearchResults:
    """Hits, best first, with how they were found (``words``, ``meaning`` or ``both`` fused) and notes
    worth telling the person (e.g. captions that have no vectors yet)."""

    hits: list[SearchHit]
    mode: str
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, position: int) -> SearchHit:
        return self.hits[position]


@dataclass
class EmbedRun:
    """``unknown``: named paths the index doesn't know; ``results``: (file, outcome) as each is written."""

    unknown: list[str]
    results: Iterator[tuple[Target, EmbedResult]]
    total: int = 0  # how many files ``results`` will yield (for a progress bar)


@dataclass
class VariantsItem:
    path: str
    caption: str
    variants: list[dict[str, Any]]
    error: str | None  # None: variants are stored (new, or already there)


@dataclass
class VariantsReport:
    items: list[VariantsItem]
    problems: list[tuple[str, str]]  # (path named, why it has no caption)
    already_done: int  # images that already had N variants in this style (not asked again)
    new: int  # images that got new variants now
    asked: int  # images asked about now
    style: str
    model: str
    requests: int

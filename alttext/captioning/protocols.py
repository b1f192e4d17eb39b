"""What the rest of alttext needs from a captioning model, as a structural type.

``Captioner`` (``alttext.captioning.engine``, a local model) and ``RemoteCaptioner``
(``alttext.captioning.remote``, a model behind an OpenAI-compatible endpoint) are the real ones; tests
pass small fakes. The index's ingest (layer 2) types against ``CaptionModel`` so it needs neither torch
nor the engine to be imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from PIL import Image

    from alttext.captioning.stream import CaptionOutcome

T = TypeVar("T")


@dataclass(frozen=True)
class CaptionFailure:
    """One image of a batch that got no caption (a remote call that failed for good); the others stand.
    ``message`` is one line, fit to store and print (no key in it)."""

    message: str


class CaptionModel(Protocol):
    """A loaded model that captions preprocessed images in batches."""

    @property
    def batch_size(self) -> int:
        """Images per ``generate`` call."""
        ...

    @property
    def model_id(self) -> str:
        """Hub id or local folder, stored with each caption."""
        ...

    @property
    def revision(self) -> str | None:
        """The model's revision (commit), when known."""
        ...

    @property
    def generation_params(self) -> dict[str, Any]:
        """The settings that shaped a caption (beams, max tokens, quantisation, the prompt), stored with it."""
        ...

    def preprocess(self, image: Image.Image) -> Any:
        """The model's input for one image (its family decides what: pixel values, or the image for a
        processor that runs per batch); must be thread-safe."""
        ...

    def generate(self, batch: Sequence[Any]) -> Sequence[str | CaptionFailure]:
        """Raw captions for a batch of preprocessed images, in order; a ``CaptionFailure`` for an image that
        got none (the rest of the batch is kept). Raises only when the whole batch failed."""
        ...

    def describe(self, batch: Sequence[Any]) -> list[str | None] | None:
        """Long descriptions for the same batch, in order (None for an image without one); None when this
        model gives none."""
        ...

    def read_text(self, batch: Sequence[Any]) -> list[str | None] | None:
        """The text in each image of the same batch, in order (None where there is none); None when this
        model does not read text (docs/architecture.md §15)."""
        ...


class Captioning(CaptionModel, Protocol):
    """A captioner the library's faces use directly (``alttext caption``, uploads): ``CaptionModel`` plus a
    stream over any items."""

    def caption_stream(
        self, items: Iterable[T], load: Callable[[T], Image.Image], *, workers: int = 2
    ) -> Iterator[CaptionOutcome[T]]:
        """Caption every item, in input order; a failing item yields an outcome with ``error`` set."""
        ...


# Called once, on first need, so a run with nothing to caption never loads a model.
CaptionerFactory = Callable[[], CaptionModel]

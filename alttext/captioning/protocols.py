"""What the rest of alttext needs from a captioning model, as a structural type.

``Captioner`` (``alttext.captioning.engine``) is the real one; tests pass small fakes. The index's ingest
(layer 2) types against ``CaptionModel`` so it needs neither torch nor the engine to be imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image


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

    def generate(self, batch: Sequence[Any]) -> list[str]:
        """Raw captions for a batch of preprocessed images, in order."""
        ...

    def describe(self, batch: Sequence[Any]) -> list[str | None] | None:
        """Long descriptions for the same batch, in order; None when this model gives none."""
        ...

    def read_text(self, batch: Sequence[Any]) -> list[str | None] | None:
        """The text in each image of the same batch, in order (None where there is none); None when this
        model does not read text (docs/architecture.md §14)."""
        ...


# Called once, on first need, so a run with nothing to caption never loads a model.
CaptionerFactory = Callable[[], CaptionModel]

"""Pixels-only captioners: VisionEncoderDecoder (vit-gpt2, TrOCR, Donut), BLIP, GIT (docs/architecture.md §13).

The image goes in as ``pixel_values`` and nothing else; vision encoder-decoders take ``fast_beam``'s path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from alttext.captioning.families import ENCODER_DECODER

if TYPE_CHECKING:
    from PIL import Image

    from alttext.captioning.loading import LoadedModel


class EncoderDecoderFamily:
    name = ENCODER_DECODER
    prompt: str | None = None
    description_prompt: str | None = None  # pixels only: alt text only
    text_prompt: str | None = None  # nor can it be asked for the text in the image

    def __init__(self, loaded: LoadedModel, *, shared_encoder: bool) -> None:
        self.loaded = loaded
        self.shared_encoder = shared_encoder

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Pixel values for one image, shape (C, H, W)."""
        processed = self.loaded.image_processor(images=[image], return_tensors="np")
        return np.asarray(processed["pixel_values"][0], dtype=np.float32)

    def _uses_shared_cross_cache(self) -> bool:
        return bool(getattr(self.loaded.model.config, "is_encoder_decoder", False))

    def generate(
        self, prepared: Sequence[Any], generation_kwargs: dict[str, Any], *, describe: bool = False,
        read_text: bool = False,
    ) -> list[str]:
        import torch

        if describe or read_text:
            raise ValueError("pixels-only models give alt text only")

        from alttext.captioning import fast_beam

        pixel_values = prepared if isinstance(prepared, np.ndarray) else np.stack(list(prepared))
        # In the weights' dtype: a half-precision model refuses fp32 pixels.
        batch = torch.from_numpy(np.ascontiguousarray(pixel_values)).to(self.loaded.device,
                                                                        dtype=self.loaded.model.dtype)
        kwargs = dict(generation_kwargs)
        if self.shared_encoder:
            output = fast_beam.generate_shared(self.loaded.model, batch, **kwargs)
        else:
            if self._uses_shared_cross_cache():
                kwargs["cache"] = fast_beam.SharedCrossAttentionCache()
            output = self.loaded.model.generate(pixel_values=batch, **kwargs)
        texts = self.loaded.tokenizer.batch_decode(output, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]

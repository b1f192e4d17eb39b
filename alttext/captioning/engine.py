"""The captioner: one local model per process, fed batches, with decoding running ahead of it
(``caption_stream``, in ``stream``).

The model is loaded once and runs one ``generate`` at a time; its family (``families``) decides what it
is given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from alttext.captioning.families import (
    DESCRIPTION_MAX_NEW_TOKENS,
    IMAGE_TEXT_MAX_NEW_TOKENS,
    PROMPTED_MAX_NEW_TOKENS,
    CaptionFamily,
    clean_description,
    clean_image_text,
)
from alttext.captioning.loading import LoadedModel, load_model
from alttext.captioning.memory import run_fitting
from alttext.captioning.protocols import CaptionFailure
from alttext.captioning.stream import CaptionOutcome, caption_stream
from alttext.vocabulary import DEFAULT_BATCH_SIZE, PRECISION_CHOICES, QUANTIZE_CHOICES

if TYPE_CHECKING:
    from alttext.captioning.ocr import TesseractReader

logger = logging.getLogger(__name__)

T = TypeVar("T")

# vit-gpt2-style models on CPU: each decoding step reads every decoder weight (~0.5 GB fp32, ~0.12 GB int8)
# once for all the batch's beams, so the steps cost less per image as batches grow (bench/README.md, issue 16:
# decoding 0.205 / 0.163 / 0.130 s an image fp32 and 0.101 / 0.080 / 0.065 int8 at batch 8 / 16 / 32), for
# ~0.7 GB more at peak in fp32 (the images' cross-attention keys/values).
CPU_GPT2_BATCH_SIZE = 32

__all__ = ["CaptionOutcome", "Captioner", "configure_torch_threads"]


@dataclass(frozen=True)
class _WithText:
    """A pixels-only model's input with the text an OCR engine read in the same image (in the decode pool)."""

    model_input: Any
    image_text: str | None


_threads_configured = False


def configure_torch_threads(threads: int | None) -> None:
    """One process-wide decision; torch must not be told twice (interop threads can't change later)."""
    global _threads_configured
    import torch

    if _threads_configured:
        return
    if threads:
        torch.set_num_threads(threads)
    _threads_configured = True


def _no_text(message: str) -> None:
    """A description or reading of the text the device had no memory for: a bonus lost, not an error."""
    return None


class Captioner:
    """Loads a model once and captions batches of images."""

    def __init__(
        self,
        model_ref: str,
        *,
        device: str = "auto",
        beams: int | None = None,
        max_new_tokens: int | None = None,
        batch_size: int | None = None,
        quantize: str = "none",
        precision: str = "auto",
        threads: int | None = None,
        loaded: LoadedModel | None = None,
        prompt: str | None = None,
        describe: bool = False,
        read_text: bool = False,
    ) -> None:
        """``prompt`` replaces the chat-VLM family's alt-text prompt (the ``caption_prompt`` setting); the
        other families ignore it. With ``describe``, prompt-driven families also give a long description
        (pixels-only ones give alt text only; docs/architecture.md §13); with ``read_text`` they also read the
        text in the picture (§15). ``precision``: the weights' dtype (``precision.resolve_precision``)."""
        if quantize not in QUANTIZE_CHOICES:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {quantize!r}")
        if precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {precision!r}")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if quantize == "int8":  # said before the weights load
            if device.partition(":")[0] in ("cuda", "mps"):
                raise ValueError(f"--quantize int8 is for CPU inference, not --device {device}; use --device cpu")
            if precision not in ("auto", "fp32"):
                raise ValueError(f"--quantize int8 quantizes fp32 weights, not --precision {precision};"
                                 " use --precision fp32 or auto")
        configure_torch_threads(threads)
        self.loaded = loaded or load_model(model_ref, device, precision)
        self._fits: int | None = None  # the batch size that fit after the device ran out of memory
        self.quantize = quantize
        if quantize == "int8":
            if self.loaded.device != "cpu":
                raise ValueError("--quantize int8 is for CPU inference; use --device cpu")
            from alttext.captioning.quantize import quantize_int8

            self.loaded.model = quantize_int8(self.loaded.model)
        self._shared_encoder = False
        self.family = self._family(prompt)
        self.batch_size = batch_size if batch_size is not None else self._default_batch_size()
        self.generation_kwargs = self._generation_kwargs(beams, max_new_tokens)
        self.describes = describe and self.family.description_prompt is not None
        self.description_kwargs = {key: value for key, value in self.generation_kwargs.items()
                                   if key not in ("max_length", "max_new_tokens")}
        self.description_kwargs["max_new_tokens"] = DESCRIPTION_MAX_NEW_TOKENS
        # A pixels-only model can't be asked for the text: an OCR engine reads it, where one is installed.
        self.ocr = self._ocr_reader() if read_text and self.family.text_prompt is None else None
        self.reads_text = read_text and (self.family.text_prompt is not None or self.ocr is not None)
        # Greedy: text is copied out, not composed, and beams cost time for nothing here.
        self.text_kwargs = {**self.description_kwargs, "num_beams": 1, "max_new_tokens": IMAGE_TEXT_MAX_NEW_TOKENS}
        self._model_lock = threading.Lock()  # one generate() at a time per model
        self.calls = 0  # model invocations (tests count these to prove a rescan captions nothing)

    @staticmethod
    def _ocr_reader() -> TesseractReader | None:
        from alttext.captioning.ocr import find_reader

        reader = find_reader()
        if reader is None:
            logger.warning("this model can't read the text in pictures, and no OCR engine is installed"
                           " (apt-get install tesseract-ocr): --read-text reads nothing")
        return reader

    def _family(self, prompt: str | None) -> CaptionFamily:
        from alttext.captioning.families import CHAT_VLM, FLORENCE
        from alttext.captioning.families.encoder_decoder import EncoderDecoderFamily

        if self.loaded.family == FLORENCE:
            from alttext.captioning.families.florence import FlorenceFamily

            return FlorenceFamily(self.loaded)
        if self.loaded.family == CHAT_VLM:
            from alttext.captioning.families.chat_vlm import ChatVlmFamily

            return ChatVlmFamily(self.loaded, prompt=prompt)
        self._shared_encoder = self._uses_shared_encoder()
        return EncoderDecoderFamily(self.loaded, shared_encoder=self._shared_encoder)

    # -- settings ------------------------------------------------------------------------------
    def _generation_kwargs(self, beams: int | None, max_new_tokens: int | None) -> dict[str, Any]:
        """Explicit settings for every generate() call: the flags, else the model's generation config.

        Always explicit, because composite models (BLIP) hand generate() to an inner decoder whose own
        config would otherwise win.
        """
        config = self.loaded.model.generation_config
        if beams is not None and beams < 1:
            raise ValueError("beams must be at least 1")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError("max tokens must be at least 1")
        kwargs: dict[str, Any] = {"num_beams": beams or config.num_beams or 1}
        if max_new_tokens is not None:
            kwargs["max_new_tokens"] = max_new_tokens
        elif config.max_new_tokens is not None:
            kwargs["max_new_tokens"] = config.max_new_tokens
        elif self.family.prompt is not None:  # max_length would count the prompt's tokens too
            kwargs["max_new_tokens"] = PROMPTED_MAX_NEW_TOKENS
        else:
            kwargs["max_length"] = config.max_length or 20
        if config.min_length:
            kwargs["min_length"] = config.min_length
        return kwargs

    @property
    def model_id(self) -> str:
        return self.loaded.model_id

    @property
    def revision(self) -> str | None:
        return self.loaded.revision

    @property
    def generation_params(self) -> dict[str, Any]:
        """The settings that shaped a caption, stored with it for provenance."""
        params = dict(self.generation_kwargs)
        if self.quantize != "none":
            params["quantize"] = self.quantize
        if self.loaded.precision != "fp32":  # like quantize: stored where it isn't the exact default
            params["precision"] = self.loaded.precision
        if self.family.prompt is not None:
            params["prompt"] = self.family.prompt
        if self.describes:
            params["description_prompt"] = self.family.description_prompt
            params["description_max_new_tokens"] = self.description_kwargs["max_new_tokens"]
        if self.ocr is not None:
            params["text_reader"] = self.ocr.name
        elif self.reads_text:
            params["text_prompt"] = self.family.text_prompt
        return params

    @property
    def prompt(self) -> str | None:
        """The prompt the model is given (None for pixels-only models)."""
        return self.family.prompt

    # -- the model -----------------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> Any:
        """The model's input for one image (pixel values, shape (C, H, W), for pixels-only models);
        thread-safe, runs in the prefetch pool. With an OCR engine, its reading of the image is done here too,
        ahead of the model."""
        prepared = self.family.prepare(image)
        if self.ocr is None:
            return prepared
        from alttext.captioning.ocr import OcrError

        try:
            text = self.ocr.read(image)
        except OcrError as exc:  # the text is a bonus: its failure costs the text, never the alt text
            logger.info("reading the text of an image failed: %s", exc)
            text = None
        return _WithText(prepared, text)

    def _model_inputs(self, batch: Sequence[Any]) -> Sequence[Any]:
        if self.ocr is None:
            return batch
        return [item.model_input if isinstance(item, _WithText) else item for item in batch]

    def _default_batch_size(self) -> int:
        """Images per call when the settings don't say: ``CPU_GPT2_BATCH_SIZE`` for GPT-2 decoders run by
        ``gpt2_beam`` on CPU, else ``DEFAULT_BATCH_SIZE``."""
        from alttext.captioning import gpt2_beam

        if self._shared_encoder and self.loaded.device == "cpu" and gpt2_beam.decoder_supported(self.loaded.model):
            return CPU_GPT2_BATCH_SIZE
        return DEFAULT_BATCH_SIZE

    def _uses_shared_encoder(self) -> bool:
        """Vision encoder-decoders (vit-gpt2, TrOCR, Donut) get fast_beam.generate_shared."""
        from alttext.captioning import fast_beam, gpt2_beam

        if not fast_beam.is_vision_encoder_decoder(self.loaded.model):
            return False
        fast_beam.enable_folded_cross_attention(self.loaded.model)  # GPT-2 decoders only; else no-op
        gpt2_beam.prepare(self.loaded.model)  # fp32 GPT-2 decoders on CPU: oneDNN-packed weights
        return True

    def _run(self, batch: Sequence[Any], failed: Callable[[str], T], **flags: Any) -> list[str | T]:
        """The family's text for each image of ``batch``, in order; a batch the device has no memory for is
        split (``memory.run_fitting``), an image that doesn't fit alone is ``failed(message)``, and the
        batch size that fit is kept for every later call."""
        import torch

        kwargs = (self.text_kwargs if flags.get("read_text") else self.description_kwargs if flags.get("describe")
                  else self.generation_kwargs)

        def run(chunk: Sequence[Any]) -> list[str]:
            texts = self.family.generate(chunk, kwargs, **flags)
            self.calls += 1
            return texts

        with self._model_lock, torch.inference_mode():
            results, fitted = run_fitting(run, batch, limit=self._fits, device=self.loaded.device, failed=failed)
            if fitted is not None and fitted < (self._fits or self.batch_size):
                logger.warning("out of memory on %s: batches of %d images from now on (was %d)",
                               self.loaded.device, fitted, self._fits or self.batch_size)
                self._fits = self.batch_size = fitted
        return results

    def generate(self, batch: Sequence[Any]) -> list[str | CaptionFailure]:
        """Raw captions for a batch of preprocessed images (a list, or stacked pixel values); a
        ``CaptionFailure`` for an image the device has no memory for even alone."""
        return self._run(self._model_inputs(batch), CaptionFailure)

    def describe(self, batch: Sequence[Any]) -> list[str | None] | None:
        """Long descriptions for a batch of preprocessed images (None for an empty one, and for an image the
        device has no memory for), or None when this captioner doesn't describe (not asked to, or a pixels-only
        model)."""
        if not self.describes:
            return None
        texts = self._run(self._model_inputs(batch), _no_text, describe=True)
        return [clean_description(text) if text is not None else None for text in texts]

    def read_text(self, batch: Sequence[Any]) -> list[str | None] | None:
        """The text in each image of a batch of preprocessed images (None where there is none), or None when
        this captioner doesn't read text (not asked to, or a pixels-only model)."""
        if not self.reads_text:
            return None
        if self.ocr is not None:  # read in the decode pool (preprocess)
            return [item.image_text if isinstance(item, _WithText) else None for item in batch]
        texts = self._run(batch, _no_text, read_text=True)
        return [clean_image_text(text) if text is not None else None for text in texts]

    def caption_images(self, images: list[Image.Image]) -> list[str | CaptionFailure]:
        """Raw captions for already-decoded images, in batches (a ``CaptionFailure`` for an image the device
        has no memory for)."""
        captions: list[str | CaptionFailure] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            captions.extend(self.generate([self.preprocess(image) for image in chunk]))
        return captions

    # -- the pipeline --------------------------------------------------------------------------
    def caption_stream(
        self,
        items: Iterable[T],
        load: Callable[[T], Image.Image],
        *,
        workers: int = 2,
    ) -> Iterator[CaptionOutcome[T]]:
        """Caption every item, in input order; a failing item yields an outcome with ``error`` set.

        Decoding runs up to two batches ahead of the model in ``workers`` threads (``stream``)."""
        return caption_stream(self, items, load, workers=workers)

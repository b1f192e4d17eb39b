"""Model families: how one kind of model turns images into text (docs/architecture.md §13).

The family is read from the model's config, never from its name (``detect_family``):

- ``encoder-decoder``: pixels-only captioners (VisionEncoderDecoder such as vit-gpt2, BLIP, GIT), with the
  fast beam path of ``fast_beam``;
- ``florence-2``: Florence-2, driven by a task prompt alttext chooses (``<CAPTION>`` for alt text);
- ``chat-vlm``: chat vision-language models (Idefics3/SmolVLM, Qwen-VL, ...) through their processor's chat
  template, with an alt-text prompt (the ``caption_prompt`` setting overrides it).

Every family meets ``CaptionFamily``; the ``Captioner`` (engine.py) only batches, locks and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image

ENCODER_DECODER = "encoder-decoder"
FLORENCE = "florence-2"
CHAT_VLM = "chat-vlm"
FAMILIES = (ENCODER_DECODER, FLORENCE, CHAT_VLM)

# What a user is told a model must be when it fits no family.
SUPPORTED = (
    "alttext captions with pixels-only encoder-decoders (VisionEncoderDecoder such as vit-gpt2, BLIP, GIT),"
    " Florence-2, and chat vision-language models with an image processor and a chat template"
    " (Idefics3/SmolVLM, Qwen-VL)"
)

# Prompt-driven families stop here unless the model's generation config or --max-tokens says otherwise:
# alt text is one sentence (docs/architecture.md §13).
PROMPTED_MAX_NEW_TOKENS = 60
# A long description (``describe``) may run to a paragraph.
DESCRIPTION_MAX_NEW_TOKENS = 256
# Text read in the picture (``read_text``): a sign or a slide, rarely a page (docs/architecture.md §15).
IMAGE_TEXT_MAX_NEW_TOKENS = 128


class CaptionFamily(Protocol):
    """One loaded model of one family."""

    name: str

    @property
    def prompt(self) -> str | None:
        """The prompt the model is given (None for pixels-only models); stored with each caption."""
        ...

    @property
    def description_prompt(self) -> str | None:
        """The prompt for a long description; None when the family gives alt text only."""
        ...

    @property
    def text_prompt(self) -> str | None:
        """The prompt that asks for the text in the image; None when the family can't read text."""
        ...

    def prepare(self, image: Image.Image) -> Any:
        """What ``generate`` needs for one image; runs in the decode pool, so it must be thread-safe."""
        ...

    def generate(
        self, prepared: Sequence[Any], generation_kwargs: dict[str, Any], *, describe: bool = False,
        read_text: bool = False,
    ) -> list[str]:
        """Raw text for a batch of prepared images, in order (the caller holds the model lock): alt text, or
        with ``describe`` the long description (only when ``description_prompt`` is not None), or with
        ``read_text`` the text in the image (only when ``text_prompt`` is not None)."""
        ...


# A description is for a screen reader's "more" view, not an essay: cut at a word boundary past this.
DESCRIPTION_MAX_CHARS = 2000


def clean_description(raw: str) -> str | None:
    """The model's long description with whitespace collapsed and a length cap; None when it said nothing."""
    text = " ".join(raw.split())
    if len(text) > DESCRIPTION_MAX_CHARS:
        text = text[:DESCRIPTION_MAX_CHARS].rsplit(" ", 1)[0] + "…"
    return text or None


# Text in the image is for search and, on a sign or a slide, for the alt text: a page's worth is plenty.
IMAGE_TEXT_MAX_CHARS = 1000
# What models answer when asked for the text in a picture that has none.
_NO_TEXT = frozenset({"none", "no text", "no visible text", "no legible text", "n/a", "nothing", "there is no text"})


def clean_image_text(raw: str | None) -> str | None:
    """Text read in an image, whitespace collapsed, surrounding quotes off and a length cap; None when the
    reader found none (an empty answer, or "none" as the chat prompt asks for)."""
    text = " ".join((raw or "").split()).strip("\"'“”‘’` ")
    if not any(char.isalnum() for char in text) or text.lower().rstrip(".!") in _NO_TEXT:
        return None
    if len(text) > IMAGE_TEXT_MAX_CHARS:
        text = text[:IMAGE_TEXT_MAX_CHARS].rsplit(" ", 1)[0] + "…"
    return text


class UnsupportedModel(ValueError):
    """The model's config fits no family; the message is one line saying why."""


def _has_image_token(config: Any) -> bool:
    return any(getattr(config, name, None) is not None for name in ("image_token_id", "image_token_index"))


def detect_family(config: Any) -> str:
    """The family of a model, from its config (a ``PretrainedConfig``). Raises ``UnsupportedModel``."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = getattr(config, "model_type", None) or "unknown"
    if model_type == "florence2":
        return FLORENCE
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise UnsupportedModel(
            f"its config is a {model_type!r} model, which does not turn images into text; {SUPPORTED}"
        )
    # Models that place the image among text tokens need a prompt; the others caption from pixels alone.
    return CHAT_VLM if _has_image_token(config) else ENCODER_DECODER

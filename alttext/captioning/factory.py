"""The one place settings become a captioner (``alttext caption``, ``scan`` and ``watch`` alike)."""

from __future__ import annotations

from alttext.captioning.engine import Captioner
from alttext.config import Settings


class ModelSettingsError(ValueError):
    """The model settings can't be used (a bad device or quantize value); the message says why."""


def build_captioner(settings: Settings) -> Captioner:
    """Load the model the settings name. Raises ``ModelLoadError`` when it can't be loaded and
    ``ModelSettingsError`` when the settings can't be used."""
    try:
        return _captioner(settings)
    except ValueError as exc:
        raise ModelSettingsError(str(exc)) from exc


def _captioner(settings: Settings) -> Captioner:
    return Captioner(
        settings.model,
        device=settings.device,
        beams=settings.beams,
        max_new_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        quantize=settings.quantize,
        threads=settings.threads,
        prompt=settings.caption_prompt,
        describe=settings.describe,
        read_text=settings.read_text,
    )

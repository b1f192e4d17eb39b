"""Captioning engine: model loading, batched generation, speed options."""

from alttext.captioning.engine import QUANTIZE_CHOICES, Captioner, CaptionOutcome
from alttext.captioning.loading import LoadedModel, ModelLoadError, load_model

__all__ = ["QUANTIZE_CHOICES", "CaptionOutcome", "Captioner", "LoadedModel", "ModelLoadError", "load_model"]

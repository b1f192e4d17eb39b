"""The one place settings become a captioner (``alttext caption``, ``scan`` and ``watch`` alike)."""

from __future__ import annotations

import logging

from alttext.captioning.engine import Captioner
from alttext.captioning.protocols import Captioning
from alttext.config import Settings

logger = logging.getLogger(__name__)


class ModelSettingsError(ValueError):
    """The model settings can't be used (a bad device or quantize value); the message says why."""


def build_captioner(settings: Settings) -> Captioning:
    """Load the model the settings name: a local one (``Captioner``), or for ``openai:NAME`` a model behind
    ``caption_endpoint`` (``RemoteCaptioner``; no hub, no weights). Raises ``ModelLoadError`` when it can't
    be loaded and ``ModelSettingsError`` when the settings can't be used."""
    from alttext.captioning.remote import RemoteCaptioner, is_remote_model

    try:
        if is_remote_model(settings.model):
            remote = RemoteCaptioner.from_settings(settings)
            _warn_local_only(settings)
            remote.check_endpoint()
            return remote
        return _captioner(settings)
    except ValueError as exc:
        raise ModelSettingsError(str(exc)) from exc


def _warn_local_only(settings: Settings) -> None:
    """Settings a remote model cannot honour: said once, not an error (they may come from a shared file)."""
    ignored = [name for name, value in (("beams", settings.beams), ("quantize", settings.quantize != "none"),
                                        ("device", settings.device != "auto"), ("threads", settings.threads),
                                        ("precision", settings.precision != "auto"))
               if value]
    if ignored:
        logger.warning("%s: %s apply to local models only; ignored", settings.model, ", ".join(ignored))


def _captioner(settings: Settings) -> Captioner:
    return Captioner(
        settings.model,
        device=settings.device,
        beams=settings.beams,
        max_new_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        quantize=settings.quantize,
        precision=settings.precision,
        threads=settings.threads,
        prompt=settings.caption_prompt,
        describe=settings.describe,
        read_text=settings.read_text,
    )

"""Loading any Hugging Face image-to-text model (hub id or local folder) through the Auto classes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The model cannot be loaded; the message is one line a user can act on."""


@dataclass
class LoadedModel:
    model: Any
    image_processor: Any
    tokenizer: Any
    model_id: str
    revision: str | None
    device: str


def looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(ref))


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _offline_message(ref: str) -> str:
    return (
        f"cannot load model {ref!r}: it is not in the local Hugging Face cache and the hub cannot be reached."
        " Download it once with network access, or point --model (or ALTTEXT_MODEL) at a local folder"
        " saved with save_pretrained."
    )


def load_model(ref: str, device: str = "auto") -> LoadedModel:
    """Load model, image processor and tokenizer for ``ref``; raise ModelLoadError with one clear line."""
    import transformers
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    transformers.logging.set_verbosity_error()  # the torchvision fallback notice is not for our users
    transformers.logging.disable_progress_bar()  # "Loading weights" bars would clutter every command
    local = looks_like_path(ref)
    source = str(Path(ref).expanduser().resolve()) if local else ref
    if local:
        folder = Path(source)
        if not folder.is_dir():
            raise ModelLoadError(f"model folder {ref!r} does not exist")
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{ref!r} is not a model folder (no config.json; save it with save_pretrained)")
    try:
        model = AutoModelForImageTextToText.from_pretrained(source)
        image_processor = AutoImageProcessor.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        text = str(exc)
        if not local and (
            "connect" in text.lower() or "offline" in text.lower() or "cached" in text.lower()
        ):
            raise ModelLoadError(_offline_message(ref)) from exc
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {ref!r}: {first_line}") from exc
    except ValueError as exc:  # e.g. a config that is not an image-to-text architecture
        first_line = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"{ref!r} is not an image-to-text model this version supports: {first_line}") from exc

    chosen = pick_device(device)
    # transformers wraps ``to`` with functools.wraps(Module.to), which hides the method from type checkers.
    cast("torch.nn.Module", model).to(chosen)
    model.eval()
    revision = getattr(model.config, "_commit_hash", None)
    return LoadedModel(model, image_processor, tokenizer, source if local else ref, revision, chosen)

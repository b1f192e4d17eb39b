"""The processor of a prompt-driven model, loaded without its video side when only that is missing
(docs/architecture.md §13).

transformers' Qwen-VL processors (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, ...) pair an image processor with a video
processor, and every video processor needs torchvision, whose PyPI wheel replaces a CPU build of torch (§6).
``AutoProcessor`` then fails for the whole processor, although alttext sends still images only and the image
processor has a PIL backend. So where loading fails with an ``ImportError``, the same processor class is
loaded without its video attributes: the image processor, the image-token expansion, the chat template and
the tokenizer stay transformers' own code, unchanged.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


def load_processor(source: str, config: Any, *, local_files_only: bool) -> Any:
    """``AutoProcessor`` for ``source``; its images-only twin when the full one cannot be imported."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(source, local_files_only=local_files_only)
    except ImportError as exc:
        images_only = images_only_class(getattr(config, "model_type", None))
        if images_only is None:
            raise
        try:
            processor = images_only.from_pretrained(source, local_files_only=local_files_only)
        except (ImportError, OSError, ValueError, TypeError, AttributeError):
            raise exc from None  # the first error names what is missing; the second would only confuse
        logger.info("%s loaded without its video processor (%s); alttext sends still images only",
                    images_only.__name__, (str(exc).strip().splitlines() or ["ImportError"])[0])
        return processor


@functools.cache
def images_only_class(model_type: str | None) -> type[Any] | None:
    """A subclass of the model type's processor class without its video attributes, or None when the class
    has none (or is unknown). ``ProcessorMixin`` loads, checks and builds exactly the attributes that
    ``get_attributes`` names, so the video processor is then never imported."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    name = PROCESSOR_MAPPING_NAMES.get(model_type or "")
    base = processor_class_from_name(name) if name else None
    if base is None or not hasattr(base, "get_attributes"):
        return None
    attributes: list[str] = list(base.get_attributes())
    kept = [attribute for attribute in attributes if "video" not in attribute]
    if kept == attributes or "image_processor" not in kept:
        return None

    def get_attributes(cls: type) -> list[str]:
        return list(kept)

    return type(f"{base.__name__}ImagesOnly", (base,), {"get_attributes": classmethod(get_attributes),
                                                         "__module__": __name__})

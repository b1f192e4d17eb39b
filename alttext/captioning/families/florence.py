"""Florence-2: one model, many tasks, each chosen by a task prompt (docs/architecture.md §13).

alttext picks the task: ``<CAPTION>`` for alt text; ``<DETAILED_CAPTION>`` (``describe``) a long description;
``<OCR>`` (``read_text``) the text in the image, as a separate pass (§15). The processor expands the task
token into the question the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alttext.captioning.families import FLORENCE

if TYPE_CHECKING:
    from PIL import Image

    from alttext.captioning.loading import LoadedModel

ALT_TEXT_TASK = "<CAPTION>"
DESCRIPTION_TASK = "<DETAILED_CAPTION>"
LONG_DESCRIPTION_TASK = "<MORE_DETAILED_CAPTION>"
OCR_TASK = "<OCR>"
TASKS = (ALT_TEXT_TASK, DESCRIPTION_TASK, LONG_DESCRIPTION_TASK, OCR_TASK)


class FlorenceFamily:
    name = FLORENCE

    def __init__(self, loaded: LoadedModel, *, task: str = ALT_TEXT_TASK) -> None:
        if task not in TASKS:
            raise ValueError(f"Florence-2 task must be one of {', '.join(TASKS)}, not {task!r}")
        self.loaded = loaded
        self.task = task

    @property
    def prompt(self) -> str:
        return self.task

    @property
    def description_prompt(self) -> str:
        return DESCRIPTION_TASK

    @property
    def text_prompt(self) -> str:
        return OCR_TASK

    def prepare(self, image: Image.Image) -> Image.Image:
        return image.convert("RGB")  # the processor runs on the whole batch in generate()

    def generate(
        self, prepared: Sequence[Any], generation_kwargs: dict[str, Any], *, describe: bool = False,
        read_text: bool = False,
    ) -> list[str]:
        processor = self.loaded.processor
        task = OCR_TASK if read_text else DESCRIPTION_TASK if describe else self.task
        inputs = processor(images=list(prepared), text=[task] * len(prepared), return_tensors="pt")
        inputs = inputs.to(device=self.loaded.device, dtype=self.loaded.model.dtype)  # floats only: pixels
        output = self.loaded.model.generate(
            input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"], **generation_kwargs
        )
        texts = processor.batch_decode(output, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]

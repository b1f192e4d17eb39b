"""Chat vision-language models (Idefics3/SmolVLM, Qwen-VL, ...) asked for alt text through their chat
template (docs/architecture.md §13)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alttext.captioning.families import CHAT_VLM

if TYPE_CHECKING:
    from PIL import Image

    from alttext.captioning.loading import LoadedModel

ALT_TEXT_PROMPT = (
    "Write alt text for this image: one factual sentence describing what it shows."
    " Do not begin with 'image of' or 'picture of'. If the image contains legible text, say what it says."
)
DESCRIPTION_PROMPT = (
    "Describe this image in detail for someone who cannot see it, in a few factual sentences: the subject,"
    " the setting, colours and any legible text. Do not begin with 'image of' or 'picture of'."
)

# Verbatim, so that search finds the words and a sign's words can be quoted; "none" is read as no text.
TEXT_PROMPT = (
    "Copy out all legible text in this image exactly as written, in reading order, and nothing else."
    " If there is no legible text, answer: none"
)


class ChatVlmFamily:
    name = CHAT_VLM

    def __init__(self, loaded: LoadedModel, *, prompt: str | None = None) -> None:
        self.loaded = loaded
        self._prompt = prompt or ALT_TEXT_PROMPT
        processor = loaded.processor
        if not getattr(processor, "chat_template", None):  # load_model refuses such a model first
            raise ValueError("the processor has no chat template, so alttext cannot prompt the model")
        self.chat_text = self._chat_text(self._prompt)
        self.description_chat_text = self._chat_text(DESCRIPTION_PROMPT)
        self.text_chat_text = self._chat_text(TEXT_PROMPT)
        # Decoder-only models continue the prompt: batches must be padded on the left.
        processor.tokenizer.padding_side = "left"

    def _chat_text(self, prompt: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text: str = self.loaded.processor.apply_chat_template(messages, add_generation_prompt=True)
        return text

    @property
    def prompt(self) -> str:
        return self._prompt

    @property
    def description_prompt(self) -> str:
        return DESCRIPTION_PROMPT

    @property
    def text_prompt(self) -> str:
        return TEXT_PROMPT

    def prepare(self, image: Image.Image) -> Image.Image:
        return image.convert("RGB")  # the processor runs on the whole batch in generate()

    def generate(
        self, prepared: Sequence[Any], generation_kwargs: dict[str, Any], *, describe: bool = False,
        read_text: bool = False,
    ) -> list[str]:
        processor = self.loaded.processor
        chat_text = self.text_chat_text if read_text else self.description_chat_text if describe else self.chat_text
        inputs = processor(
            images=[[image] for image in prepared], text=[chat_text] * len(prepared),
            padding=True, return_tensors="pt",
        ).to(device=self.loaded.device, dtype=self.loaded.model.dtype)  # casts the floats only (pixels)
        output = self.loaded.model.generate(**inputs, **generation_kwargs)
        answers = output[:, inputs["input_ids"].shape[1]:]  # what the model added after the prompt
        texts = processor.batch_decode(answers, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]

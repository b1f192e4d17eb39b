"""Decode helpers run at a higher nice value than the model's threads (Linux), and nothing else changes."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from alttext.thread_priority import HELPER_NICENESS, lower_this_thread


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_helper_threads_are_nicer_and_the_caller_is_not() -> None:
    before = _niceness()
    with ThreadPoolExecutor(max_workers=1, initializer=lower_this_thread) as pool:
        helper = pool.submit(_niceness).result()
    assert helper == min(19, before + HELPER_NICENESS)
    assert _niceness() == before  # the calling (model) thread keeps its priority


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_decode_pool_of_caption_stream_is_lowered() -> None:
    from PIL import Image

    from alttext.captioning.stream import caption_stream

    seen: list[int] = []

    class Model:
        batch_size = 2

        def preprocess(self, image: Image.Image) -> Image.Image:
            seen.append(_niceness())
            return image

        def generate(self, batch: list[object]) -> list[str]:
            return ["a red square"] * len(batch)

        def describe(self, batch: list[object]) -> None:
            return None

        def read_text(self, batch: list[object]) -> None:
            return None

    outcomes = list(caption_stream(Model(), range(3), lambda _: Image.new("RGB", (4, 4))))  # type: ignore[arg-type]
    assert [outcome.raw_caption for outcome in outcomes] == ["a red square"] * 3
    assert seen and all(value == min(19, _niceness() + HELPER_NICENESS) for value in seen)

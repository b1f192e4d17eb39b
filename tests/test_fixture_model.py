"""The committed tiny captioning fixture (tests/fixtures/shapes-captioner) really captions.

The model is loaded exactly as users load a Hugging Face VisionEncoderDecoder
captioner (Auto classes + the saved generation_config: beam search, 4 beams)
and scored on freshly generated synthetic images with a seed never used in
training.  See tests/fixtures/README.md for how the fixture was trained.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODEL_DIR = FIXTURES / "shapes-captioner"
TEST_SEED = 20240  # training used seed 0; the README's 200-image figure uses 12345


def _load_shapes():
    spec = importlib.util.spec_from_file_location("alttext_test_shapes", FIXTURES / "shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shapes = _load_shapes()


def test_check_caption_accepts_and_rejects():
    one = {"shapes": [("red", "circle")], "background": "white"}
    pair = {"shapes": [("red", "circle"), ("blue", "square")], "background": "black"}
    twins = {"shapes": [("red", "square"), ("red", "square")], "background": "white"}

    assert shapes.check_caption("a red circle on a white background", one)
    assert shapes.check_caption("A red circle on a white background.", one)
    assert shapes.check_caption("A red circle and a blue square on a black background.", pair)
    assert shapes.check_caption("a blue square and a red circle on a black background", pair)  # order-insensitive
    assert shapes.check_caption("Two red squares on a white background.", twins)
    assert shapes.check_caption("a red square and a red square on a white background", twins)

    # wrong colour
    assert not shapes.check_caption("a green circle on a white background", one)
    assert not shapes.check_caption("a red circle and a green square on a black background", pair)
    assert not shapes.check_caption("two blue squares on a white background", twins)
    # missing shape
    assert not shapes.check_caption("a red circle on a black background", pair)
    assert not shapes.check_caption("a red square on a white background", twins)
    # extra shape
    assert not shapes.check_caption("a red circle and a red square on a white background", one)
    assert not shapes.check_caption("two red circles on a white background", one)
    assert not shapes.check_caption("two red squares and a red circle on a white background", twins)
    # wrong shape
    assert not shapes.check_caption("a red triangle on a white background", one)
    # wrong or missing background
    assert not shapes.check_caption("a red circle on a black background", one)
    assert not shapes.check_caption("a red circle", one)
    assert not shapes.check_caption("a red circle on a white black background", one)
    # ungrammatical count
    assert not shapes.check_caption("a red squares on a white background", twins)
    assert not shapes.check_caption("", one)


def test_generated_captions_pass_their_own_check():
    data = shapes.generate_dataset(300, seed=99)
    sizes = [im.size for im, _, _ in data]
    assert min(min(s) for s in sizes) >= shapes.MIN_SIDE and max(max(s) for s in sizes) <= shapes.MAX_SIDE
    assert all(shapes.check_caption(caption, truth) for _, caption, truth in data)
    assert {len(truth["shapes"]) for _, _, truth in data} == {1, 2}
    # the generator is deterministic given the seed
    again = shapes.generate_dataset(5, seed=99)
    assert [c for _, c, _ in again] == [c for _, c, _ in data[:5]]
    assert again[0][0].tobytes() == data[0][0].tobytes()


def test_fixture_model_captions_fresh_images():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    model = transformers.AutoModelForImageTextToText.from_pretrained(MODEL_DIR).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(MODEL_DIR)
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    assert model.generation_config.num_beams == 4

    data = shapes.generate_dataset(100, seed=TEST_SEED)
    captions = []
    with torch.no_grad():
        for start in range(0, len(data), 20):
            chunk = data[start : start + 20]
            pixel_values = processor(images=[im for im, _, _ in chunk], return_tensors="pt").pixel_values
            out = model.generate(pixel_values=pixel_values)
            captions += tokenizer.batch_decode(out, skip_special_tokens=True)

    results = [shapes.check_caption(text, truth) for text, (_, _, truth) in zip(captions, data, strict=True)]
    misses = [(text, want) for text, (_, want, _), ok in zip(captions, data, results, strict=True) if not ok]
    assert sum(results) / len(results) >= 0.92, misses

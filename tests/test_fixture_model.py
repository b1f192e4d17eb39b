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
LARGE_SEED = 20241
MIN_ACCURACY = 0.95


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


def test_lone_shapes_come_in_every_size_up_to_filling_the_frame():
    """The generator draws one shape at any size from 20 % of the short side to filling the frame, and
    pairs small enough to sit side by side."""
    data = shapes.generate_dataset(400, seed=98)
    single, pair = [], []
    for image, _, truth in data:
        sizes = [(x1 - x0) / min(image.size) for x0, _, x1, _ in truth["boxes"]]
        (single if len(sizes) == 1 else pair).extend(sizes)
    assert min(single) >= shapes.MIN_FRAC - 0.01 and max(single) <= shapes.MAX_SINGLE_FRAC + 0.01
    assert sum(size > 0.8 for size in single) >= len(single) // 10  # close-ups are common, not rare
    assert sum(size < 0.45 for size in single) >= len(single) // 4
    assert max(pair) <= shapes.MAX_FRAC + 0.01
    close_ups = shapes.generate_dataset(50, seed=97, count=1, single_frac=(0.9, shapes.MAX_SINGLE_FRAC))
    for image, _, truth in close_ups:
        (x0, y0, x1, y1), = truth["boxes"]
        assert len(truth["shapes"]) == 1 and (x1 - x0) >= 0.89 * min(image.size)
        assert x0 >= 0 and y0 >= 0 and x1 <= image.width and y1 <= image.height


def _accuracy(data) -> tuple[float, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """Caption ``data`` as users do (Auto classes, the saved generation_config: beam search, 4 beams)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    model = transformers.AutoModelForImageTextToText.from_pretrained(MODEL_DIR).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(MODEL_DIR)
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    assert model.generation_config.num_beams == 4

    captions = []
    with torch.no_grad():
        for start in range(0, len(data), 20):
            chunk = data[start : start + 20]
            pixel_values = processor(images=[im for im, _, _ in chunk], return_tensors="pt").pixel_values
            out = model.generate(pixel_values=pixel_values)
            captions += tokenizer.batch_decode(out, skip_special_tokens=True)

    results = [shapes.check_caption(text, truth) for text, (_, _, truth) in zip(captions, data, strict=True)]
    misses = [(text, want) for text, (_, want, _), ok in zip(captions, data, results, strict=True) if not ok]
    return sum(results) / len(results), misses


def test_fixture_model_captions_fresh_images():
    accuracy, misses = _accuracy(shapes.generate_dataset(100, seed=TEST_SEED))
    assert accuracy >= MIN_ACCURACY, misses


def test_fixture_model_names_one_large_shape_as_one():
    """Close-ups of one shape covering most of the frame: the first fixture, never trained on them, called
    a big green square "two green squares"."""
    data = shapes.generate_dataset(100, seed=LARGE_SEED, count=1, single_frac=(0.6, shapes.MAX_SINGLE_FRAC))
    accuracy, misses = _accuracy(data)
    assert accuracy >= MIN_ACCURACY, misses

"""Captioning hands transformers its cache through the supported ``cache`` argument: no deprecation
warning reaches the user on any model run, the captions equal plain ``generate``'s, and generate really
decodes with the prefilled cross-attention cache (the speed-up)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fixtures.shapes import generate_dataset


def _caption_without_warnings(captioner, images) -> list[str]:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        captions = captioner.caption_images(images)
    deprecations = [f"{w.category.__name__}: {w.message}" for w in caught
                    if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert not deprecations, deprecations
    return captions


def _plain_generate(model_dir: Path, captioner, images) -> list[str]:  # type: ignore[no-untyped-def]
    """generate() of a freshly loaded model (the captioner's own may have oneDNN-packed layers)."""
    import torch

    from alttext.captioning import load_model

    loaded = load_model(str(model_dir), "cpu")
    pixels = loaded.image_processor(images=images, return_tensors="pt").pixel_values
    with torch.inference_mode():
        output = loaded.model.generate(pixel_values=pixels, **captioner.generation_kwargs)
    return [" ".join(text.split()) for text in loaded.tokenizer.batch_decode(output, skip_special_tokens=True)]


@pytest.mark.parametrize("path", ["gpt2_loop", "generate_shared", "shared_cross_cache"])
def test_captioning_warns_nothing_and_matches_plain_generate(
    shapes_model: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    from alttext.captioning import Captioner, fast_beam, gpt2_beam

    shared_encoder = path != "shared_cross_cache"
    if not shared_encoder:  # the engine's path for encoder-decoders that are not VisionEncoderDecoder
        monkeypatch.setattr(Captioner, "_uses_shared_encoder", lambda self: False)
    if path == "generate_shared":  # generate with the prefilled cache: where gpt2_beam's loop declines
        monkeypatch.setattr(gpt2_beam, "plan", lambda *args, **kwargs: None)
    captioner = Captioner(str(shapes_model), device="cpu")
    assert captioner._shared_encoder is shared_encoder
    used = []
    real = fast_beam.prefilled_cross_attention_cache
    monkeypatch.setattr(fast_beam, "prefilled_cross_attention_cache",
                        lambda *args, **kwargs: used.append(real(*args, **kwargs)) or used[-1])
    loops = []
    real_loop = gpt2_beam.beam_search
    monkeypatch.setattr(gpt2_beam, "beam_search", lambda *args: loops.append(1) or real_loop(*args))
    images = [image for image, _, _ in generate_dataset(12, seed=515)]

    captions = _caption_without_warnings(captioner, images)
    _caption_without_warnings(captioner, images[:1])  # every run, not only the first

    assert captions == _plain_generate(shapes_model, captioner, images)
    if path == "gpt2_loop":  # the fixture's settings are plain beam search: every call takes the loop
        assert len(loops) == captioner.calls and not used
    else:
        assert not loops
    if path == "generate_shared":
        # generate decoded into the cache we prefilled (self-attention grew), so the image's keys and
        # values were projected once, not once per beam
        assert used and all(cache.self_attention_cache.get_seq_length() > 0 for cache in used)

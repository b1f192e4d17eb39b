"""gpt2_beam's written-out beam search gives exactly ``generate``'s sequences, and anything it does not
implement goes to ``generate``."""

from __future__ import annotations

from typing import Any

import pytest

VOCAB = 24  # small, so the end-of-text token is often among a step's best continuations


def _model(*, eos: int | list[int] | None, encoder_hidden: int = 32, seed: int = 0, vocab: int = VOCAB) -> Any:
    """A tiny random vit-gpt2 (in memory). ``encoder_hidden`` != 32 adds the encoder-to-decoder projection."""
    import torch
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

    torch.manual_seed(seed)
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=encoder_hidden, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=48)
    decoder = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=40, bos_token_id=1,
                         eos_token_id=2)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id = 1, 0
    model = VisionEncoderDecoderModel(config=config).eval()
    generation = model.generation_config
    generation.decoder_start_token_id, generation.bos_token_id, generation.pad_token_id = 1, 1, 0
    generation.eos_token_id = eos
    generation.max_length = None
    eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else eos
    with torch.no_grad():  # nudge the end-of-text logits up, so beams finish at different steps
        weight = model.decoder.lm_head.weight
        for token in eos_ids:
            model.decoder.transformer.ln_f.bias += 0.5 * weight[token] / weight[token].norm() ** 2 / len(eos_ids)
    return model


def _pixels(batch: int, seed: int = 1) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 32, 32, generator=generator)


def _ours(model: Any, pixels: Any, **settings: Any) -> Any:
    import torch

    from alttext.captioning import gpt2_beam

    with torch.inference_mode():
        plan = gpt2_beam.plan(model, pixels, settings)
        assert plan is not None, settings
        encoded = model.get_encoder()(pixel_values=pixels).last_hidden_state
        return gpt2_beam.beam_search(model, encoded, plan)


def _generate(model: Any, pixels: Any, **settings: Any) -> Any:
    import torch

    with torch.inference_mode():
        return model.generate(pixel_values=pixels, **settings)


CASES = [
    # (eos, beams, batch, settings)
    (2, 4, 5, {"max_new_tokens": 12}),
    (2, 2, 3, {"max_new_tokens": 7, "early_stopping": False}),
    (2, 3, 4, {"max_length": 15, "length_penalty": 0.0, "early_stopping": "never"}),
    (2, 4, 2, {"max_new_tokens": 10, "length_penalty": 2.0, "early_stopping": "never"}),
    (2, 5, 3, {"max_new_tokens": 9, "length_penalty": -1.0}),
    ([2, 5], 3, 4, {"max_new_tokens": 11}),  # two end-of-text tokens: keeps 3 × beams per step
    (None, 4, 3, {"max_new_tokens": 8}),  # no end-of-text token: every beam runs to the end
    (None, 2, 1, {"max_new_tokens": 1}),  # a single step
]


@pytest.mark.parametrize(("eos", "beams", "batch", "settings"), CASES)
def test_sequences_equal_generate(eos: Any, beams: int, batch: int, settings: dict[str, Any]) -> None:
    model = _model(eos=eos)
    pixels = _pixels(batch)
    expected = _generate(model, pixels, num_beams=beams, **settings)
    got = _ours(model, pixels, num_beams=beams, **settings)
    assert got.tolist() == expected.tolist()


def test_the_cases_finish_beams_early_at_different_steps() -> None:
    """The cases above exercise the end-of-text bookkeeping, not only full-length beams."""
    finished_at = set()
    for eos, beams, batch, settings in CASES:
        if eos is None:
            continue
        eos_ids = [eos] if isinstance(eos, int) else eos
        for row in _generate(_model(eos=eos), _pixels(batch), num_beams=beams, **settings).tolist():
            finished_at.update(step for step, token in enumerate(row) if step > 0 and token in eos_ids)
    assert len(finished_at) >= 3, finished_at


def test_encoder_projection_and_folded_attention_and_packed_weights() -> None:
    """A wider encoder (enc_to_dec_proj), the folded SDPA mode, and oneDNN-packed layers (compared with
    generate running the same packed layers: packing may move the last bits, the loop must not)."""
    from alttext.captioning import fast_beam, gpt2_beam, packed_linear

    model = _model(eos=2, encoder_hidden=48, seed=3, vocab=160)  # an LM head 5× wider out than in: packed
    assert fast_beam.enable_folded_cross_attention(model)
    pixels = _pixels(6, seed=4)
    settings = {"num_beams": 3, "max_new_tokens": 10}
    assert _ours(model, pixels, **settings).tolist() == _generate(model, pixels, **settings).tolist()
    if packed_linear.available():
        assert gpt2_beam.prepare(model) == 2 + 1  # the widening layers: each block's MLP in, the LM head
        assert _ours(model, pixels, **settings).tolist() == _generate(model, pixels, **settings).tolist()


@pytest.mark.parametrize("settings", [
    {"num_beams": 1, "max_new_tokens": 6},  # greedy
    {"num_beams": 3, "max_new_tokens": 6, "no_repeat_ngram_size": 2},
    {"num_beams": 3, "max_new_tokens": 6, "repetition_penalty": 1.3},
    {"num_beams": 3, "max_new_tokens": 6, "do_sample": True},
    {"num_beams": 3, "max_new_tokens": 6, "min_length": 4},  # with an end-of-text token: a logits processor
    {"num_beams": 3, "max_new_tokens": 6, "bad_words_ids": [[7]]},
    {"num_beams": 3, "max_new_tokens": 6, "num_return_sequences": 2},
    {"num_beams": 3, "max_new_tokens": 6, "output_scores": True, "return_dict_in_generate": True},
    {"num_beams": 3, "max_new_tokens": 6, "stop_strings": ["x"]},
    {"num_beams": 3, "max_new_tokens": 6, "forced_eos_token_id": 2},
])
def test_options_it_does_not_implement_go_to_generate(settings: dict[str, Any]) -> None:
    import torch

    from alttext.captioning import fast_beam, gpt2_beam

    model = _model(eos=2)
    pixels = _pixels(2)
    assert gpt2_beam.plan(model, pixels, settings) is None
    if "do_sample" in settings or "stop_strings" in settings:
        return  # sampling differs run to run; stop strings need a tokenizer: the plan alone is the point
    with torch.inference_mode():
        shared = fast_beam.generate_shared(model, pixels, **settings)
    expected = _generate(model, pixels, **settings)
    if isinstance(expected, torch.Tensor):
        assert shared.tolist() == expected.tolist()
    else:
        assert shared.sequences.tolist() == expected.sequences.tolist()


def test_generate_shared_takes_the_loop_for_plain_beam_search(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from alttext.captioning import fast_beam, gpt2_beam

    model = _model(eos=2)
    calls = []
    real = gpt2_beam.beam_search
    monkeypatch.setattr(gpt2_beam, "beam_search", lambda *args: calls.append(1) or real(*args))
    pixels = _pixels(3)
    with torch.inference_mode():
        output = fast_beam.generate_shared(model, pixels, num_beams=3, max_new_tokens=8)
    assert calls == [1]
    assert output.tolist() == _generate(model, pixels, num_beams=3, max_new_tokens=8).tolist()


def test_other_decoders_are_not_taken() -> None:
    from alttext.captioning import gpt2_beam

    model = _model(eos=2)
    model.decoder.config._attn_implementation = "eager"  # the loop is SDPA's sums
    assert not gpt2_beam.decoder_supported(model)
    assert gpt2_beam.plan(model, _pixels(1), {"num_beams": 2, "max_new_tokens": 4}) is None
    assert gpt2_beam.prepare(model) == 0


@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
def test_int8_steps_follow_the_int8_model(activation: str) -> None:
    """An int8 decoder's steps (bf16 attention keys/values where the CPU has bf16 units, GPT-2's GELU as one
    kernel) give the logits of the same int8 model run by transformers, within int8's own tolerance; a model
    with another activation keeps it."""
    import torch

    from alttext.captioning import gpt2_beam
    from alttext.captioning.quantize import native_bf16, quantize_int8

    model = _model(eos=2, seed=5, vocab=160)
    model.decoder.config.activation_function = activation
    for block in model.decoder.transformer.h:
        from transformers.activations import ACT2FN

        block.mlp.act = ACT2FN[activation]
    model = quantize_int8(model)
    pixels = _pixels(3, seed=6)
    tokens = torch.tensor([[1, 7, 30, 99, 5, 140], [1, 3, 3, 64, 2, 11], [1, 150, 8, 42, 17, 60]])
    with torch.inference_mode():
        expected = model(pixel_values=pixels, decoder_input_ids=tokens).logits
        encoded = model.get_encoder()(pixel_values=pixels).last_hidden_state
        decoder = gpt2_beam._Gpt2Decoder(model, encoded, beams=1, max_length=tokens.shape[1] + 1)
        got = torch.stack([decoder.step(tokens[:, position], position) for position in range(tokens.shape[1])], 1)
    assert decoder.attention_dtype == (torch.bfloat16 if native_bf16() else torch.float32)
    assert decoder.fused_gelu == (activation == "gelu_new")
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 0.02 * scale
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9


def test_an_int8_vision_encoder_decoder_runs_its_image_encoder_in_bf16_where_the_cpu_has_bf16_units() -> None:
    """quantize_int8 leaves the image encoder out of int8 and makes it bf16 on such CPUs (faster there and
    closer to fp32); generate_shared feeds it pixels in its dtype and the decoder fp32 states."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    from alttext.captioning import fast_beam
    from alttext.captioning.quantize import native_bf16, quantize_int8

    reference = _model(eos=2, seed=7, vocab=160)
    model = quantize_int8(_model(eos=2, seed=7, vocab=160))
    bf16 = native_bf16()
    assert any(isinstance(layer, DynamicInt8Linear) for layer in model.encoder.modules()) != bf16
    assert {parameter.dtype for parameter in model.encoder.parameters()} == {torch.bfloat16 if bf16 else torch.float32}
    assert any(isinstance(layer, DynamicInt8Linear) for layer in model.decoder.modules())
    pixels = _pixels(3, seed=8)
    encoder_dtype = next(model.encoder.parameters()).dtype
    with torch.inference_mode():
        expected = reference.get_encoder()(pixel_values=pixels).last_hidden_state
        got = model.get_encoder()(pixel_values=pixels.to(encoder_dtype)).last_hidden_state.float()
        assert float((got - expected).norm() / expected.norm()) < 0.05
        assert model.get_encoder()(pixel_values=pixels).last_hidden_state.dtype == torch.float32  # for the decoder
        shared = fast_beam.generate_shared(model, pixels, num_beams=3, max_new_tokens=6)
    assert shared.shape[0] == 3 and shared.shape[1] >= 2

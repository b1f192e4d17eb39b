"""Beam search for vision encoder-decoder models without per-beam copies of the image's attention state.

Hugging Face's ``generate`` repeats the encoder output once per beam before decoding starts, so the first
decoder step projects every image's encoder states to cross-attention keys/values ``num_beams`` times over
(for vit-gpt2 at 4 beams that costs more than the image encoder itself), keeps ``num_beams`` identical
copies of them, and re-orders those copies after every step. All of it is redundant: the cross-attention
keys/values depend only on the image, and beam search only ever re-orders beams within their own image.

``generate_shared`` instead:

1. runs the image encoder once per image (as ``generate`` does);
2. runs one decoder forward on the un-repeated batch, which fills the cross-attention cache with one copy
   of the keys/values per image (the self-attention part of that forward is thrown away);
3. hands that cache to ``generate``, whose decoder layers then find the cross-attention cache filled and
   skip the projection; the cache is never re-ordered (``SharedCrossAttentionCache``).

With 4 beams the decoder's queries come 4 rows per image while the cached keys/values have 1 row per image.
For decoders whose attention goes through transformers' attention interface (GPT-2, checked by
``supports_folded_cross_attention``) the ``alttext_sdpa`` attention function folds the beams of an image into
the query length, so one image's 4 beam queries attend to its single key/value copy in one SDPA call; for
other decoders the cached keys/values are repeated per beam once (still projected only once).

The maths is the same per row; only matrix shapes change, so results can differ from ``generate``'s in
the last bits of a float at most (the benchmark and the fixture check compare captions with the naive
pipeline).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache
from transformers.cache_utils import CacheLayerMixin

FOLDED_ATTENTION = "alttext_sdpa"
_registered = False


class SharedCrossAttentionCache(EncoderDecoderCache):
    """An encoder-decoder cache whose cross-attention part is never re-ordered."""

    def __init__(self, cross_attention_cache: DynamicCache | None = None) -> None:
        super().__init__(DynamicCache(), cross_attention_cache if cross_attention_cache is not None else DynamicCache())

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)


def folded_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """SDPA that also accepts keys/values shared by groups of consecutive query rows (the beams of an image).

    query: (batch * beams, heads, q_len, dim); key/value: (batch, heads, kv_len, dim). Any other case is plain
    transformers SDPA.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, kv_rows = query.shape[0], key.shape[0]
    if rows == kv_rows or attention_mask is not None or kv_rows == 0 or rows % kv_rows:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    beams = rows // kv_rows
    _, heads, q_len, dim = query.shape
    # (batch*beams, H, q, D) -> (batch, H, beams*q, D): the beams become extra query positions (no mask,
    # cross-attention is never causal).
    folded = query.view(kv_rows, beams, heads, q_len, dim).transpose(1, 2).reshape(kv_rows, heads, beams * q_len, dim)
    kwargs["is_causal"] = False
    output, _ = sdpa_attention_forward(module, folded, key, value, None, **kwargs)
    # output: (batch, beams*q, H, D) -> (batch*beams, q, H, D), the layout sdpa_attention_forward returns
    return output.reshape(rows, q_len, heads, value.shape[-1]), None


def register_folded_attention() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(FOLDED_ATTENTION, folded_sdpa_attention)
    AttentionMaskInterface.register(FOLDED_ATTENTION, sdpa_mask)  # masks exactly as for "sdpa"
    _registered = True


def is_vision_encoder_decoder(model: Any) -> bool:
    from transformers import VisionEncoderDecoderModel

    return isinstance(model, VisionEncoderDecoderModel)


def supports_folded_cross_attention(model: Any) -> bool:
    """GPT-2 decoders in SDPA mode: their cross-attention reads the cache and calls the attention interface."""
    decoder_config = getattr(getattr(model, "decoder", None), "config", None)
    return (
        decoder_config is not None
        and decoder_config.model_type == "gpt2"
        and decoder_config._attn_implementation in ("sdpa", FOLDED_ATTENTION)
        and not getattr(decoder_config, "reorder_and_upcast_attn", False)
    )


def enable_folded_cross_attention(model: Any) -> bool:
    """Switch a supported decoder to ``alttext_sdpa`` (SDPA plus folding); returns whether it did."""
    if not supports_folded_cross_attention(model):
        return False
    register_folded_attention()
    model.decoder.config._attn_implementation = FOLDED_ATTENTION
    return True


def _start_token(model: Any) -> int:
    for config in (model.generation_config, model.config):
        for name in ("decoder_start_token_id", "bos_token_id", "pad_token_id"):
            value = getattr(config, name, None)
            if isinstance(value, int):
                return value
    return 0


def prefilled_cross_attention_cache(model: Any, encoder_outputs: Any, *, repeat: int = 1) -> SharedCrossAttentionCache:
    """A cache holding each image's cross-attention keys/values, projected once per image.

    ``repeat`` > 1 repeats each image's rows that many times (for decoders that need one row per beam).
    """
    batch = encoder_outputs.last_hidden_state.shape[0]
    device = encoder_outputs.last_hidden_state.device
    scratch = SharedCrossAttentionCache()
    # The token does not matter: cross-attention keys/values depend only on the encoder states.
    start = torch.full((batch, 1), _start_token(model), dtype=torch.long, device=device)
    model(encoder_outputs=encoder_outputs, decoder_input_ids=start, cache=scratch, use_cache=True)
    cross = scratch.cross_attention_cache
    if repeat > 1:
        for layer in cross.layers:
            # The call above filled every cross-attention layer with its keys and values.
            assert isinstance(layer, CacheLayerMixin) and layer.keys is not None and layer.values is not None
            layer.keys = layer.keys.repeat_interleave(repeat, dim=0)
            layer.values = layer.values.repeat_interleave(repeat, dim=0)
    cache = SharedCrossAttentionCache(cross)
    if not all(cache.is_updated.values()) or not cache.is_updated:
        raise RuntimeError("the decoder did not fill its cross-attention cache")
    return cache


def generate_shared(model: Any, pixel_values: torch.Tensor, **generation_kwargs: Any) -> torch.Tensor:
    """``model.generate(pixel_values=..., **generation_kwargs)`` for a VisionEncoderDecoderModel, with the
    cross-attention keys/values projected once per image and never copied per beam or re-ordered; GPT-2
    decoders doing plain beam search take ``gpt2_beam``'s loop instead of ``generate``."""
    from alttext.captioning import gpt2_beam

    encoder = model.get_encoder()
    encoder_dtype = next(encoder.parameters()).dtype  # bf16 for an int8 model's encoder (quantize.py)
    encoder_outputs = encoder(pixel_values=pixel_values.to(encoder_dtype), return_dict=True)
    settings = gpt2_beam.plan(model, pixel_values, generation_kwargs)
    if settings is not None:  # GPT-2 decoders with plain beam search: the loop written out (same sequences)
        return gpt2_beam.beam_search(model, encoder_outputs.last_hidden_state, settings)
    beams = int(generation_kwargs.get("num_beams") or model.generation_config.num_beams or 1)
    folded = model.decoder.config._attn_implementation == FOLDED_ATTENTION
    cache = prefilled_cross_attention_cache(model, encoder_outputs, repeat=1 if folded else beams)
    return model.generate(encoder_outputs=encoder_outputs, cache=cache, **generation_kwargs)

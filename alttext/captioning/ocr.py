"""Reading the text in a picture with Tesseract, for models that can't be asked (docs/architecture.md §15).

Pixels-only captioners (vit-gpt2, BLIP, GIT) have no prompt, so with ``read_text`` alttext reads the text
with an OCR engine where one is installed: Tesseract, Debian's ``tesseract-ocr`` package, whose English
data (``tesseract-ocr-eng``) comes with it from Debian; nothing is downloaded at run time, and no Python
package is needed (the ``tesseract`` command is run with the image on its standard input). What was
weighed against it: rapidocr-onnxruntime 1.4.4 ships its ONNX models inside the wheel, but needs Python
< 3.13 and pulls opencv-python and onnxruntime (~80 MB); its successor ``rapidocr`` downloads models at
run time; EasyOCR and PaddleOCR download models too.

Tesseract reads noise in a photo of a tree as letters, so only words it is confident of (``MIN_CONFIDENCE``)
with a letter or digit in them are kept. It runs in the decode pool, ahead of the model, one process per
image, single-threaded (OpenMP would fight torch for the cores).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

from alttext.captioning.families import clean_image_text

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

TESSERACT = "tesseract"
MIN_CONFIDENCE = 60.0  # Tesseract's per-word confidence (0-100) below which a "word" is mostly noise
TIMEOUT = 60.0  # seconds for one image; a stuck process costs that image's text only


class OcrError(RuntimeError):
    """The OCR engine failed on one image; the message is one line."""


class TesseractReader:
    """Reads the text in images with the ``tesseract`` command."""

    def __init__(self, binary: str, *, lang: str = "eng", timeout: float = TIMEOUT) -> None:
        self.binary = binary
        self.lang = lang
        self.timeout = timeout
        self.version = _version(binary)

    @property
    def name(self) -> str:
        """What read the text, stored in each caption's params."""
        return f"tesseract {self.version} ({self.lang})" if self.version else f"tesseract ({self.lang})"

    def read(self, image: Image.Image) -> str | None:
        """The confident words in ``image``, line by line, or None. Raises ``OcrError``."""
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=1)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run([self.binary, "stdin", "stdout", "-l", self.lang, "tsv"], input=buffer.getvalue(),
                                  capture_output=True, timeout=self.timeout, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise OcrError(f"tesseract took longer than {self.timeout:.0f} s") from exc
        except OSError as exc:
            raise OcrError(f"cannot run tesseract: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            message = " ".join(done.stderr.decode("utf-8", "replace").split())[-200:]
            raise OcrError(f"tesseract failed: {message or f'exit status {done.returncode}'}")
        return clean_image_text(confident_text(done.stdout.decode("utf-8", "replace")))


def confident_text(tsv: str) -> str:
    """Tesseract's TSV output -> the words of at least ``MIN_CONFIDENCE`` with a letter or digit, a line of
    the picture per line."""
    lines: dict[tuple[str, str, str, str], list[str]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        try:
            confidence = float(row.get("conf") or -1)
        except ValueError:
            continue
        if word and confidence >= MIN_CONFIDENCE and any(char.isalnum() for char in word):
            key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
            lines.setdefault(key, []).append(word)
    return "\n".join(" ".join(words) for words in lines.values())


def _version(binary: str) -> str | None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (done.stdout or done.stderr).decode("utf-8", "replace").split("\n", 1)[0].split()
    return first[1] if len(first) >= 2 else None


def find_reader(lang: str = "eng") -> TesseractReader | None:
    """A Tesseract reader when the command is installed with the language's data, else None."""
    binary = shutil.which(TESSERACT)
    if binary is None:
        return None
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if lang not in listed.stdout.decode("utf-8", "replace").split():
        logger.warning("tesseract has no %r language data (apt-get install tesseract-ocr-%s)", lang, lang)
        return None
    return TesseractReader(binary, lang=lang)

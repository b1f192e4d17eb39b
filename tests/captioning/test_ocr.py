"""Text in the picture for pixels-only models, read by Tesseract where it is installed (Debian's
tesseract-ocr with its English data; docs/architecture.md §15), on images with text PIL draws."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from alttext.captioning.ocr import MIN_CONFIDENCE, OcrError, TesseractReader, confident_text, find_reader
from alttext.cli import cli
from alttext.library import Library

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract is not installed (apt-get install tesseract-ocr)")


def sign(path: Path, words: str = "NO PARKING") -> Path:
    image = Image.new("RGB", (800, 400), (200, 30, 30))
    ImageDraw.Draw(image).text((60, 140), words, fill=(255, 255, 255), font=ImageFont.load_default(size=90))
    image.save(path)
    return path


@needs_tesseract
def test_tesseract_reads_a_sign_and_nothing_in_a_plain_picture(tmp_path: Path) -> None:
    reader = find_reader()
    assert reader is not None and reader.name.startswith("tesseract 5")
    assert reader.read(Image.open(sign(tmp_path / "sign.png"))) == "NO PARKING"
    assert reader.read(Image.new("RGB", (600, 400), (90, 140, 60))) is None


@needs_tesseract
def test_a_pixels_only_model_gets_the_text_from_tesseract(tiny_model: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    sign(photos / "sign.png")
    Image.new("RGB", (600, 400), (90, 140, 60)).save(photos / "field.png")
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), read_text=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        assert library.load_captioner().calls == 1  # the model ran once; Tesseract read the text beside it
        shown = library.show(str(photos / "sign.png"))
        field = library.show(str(photos / "field.png"))
        assert [Path(hit.path).name for hit in library.search("parking", mode="words")] == ["sign.png"]
    assert shown is not None and shown["image_text"] == "NO PARKING"
    assert shown["params"]["text_reader"].startswith("tesseract") and "text_prompt" not in shown["params"]
    assert field is not None and field["image_text"] is None
    result = CliRunner().invoke(cli, ["caption", str(photos / "sign.png"), "--model", str(tiny_model),
                                      "--read-text", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["image_text"] == "NO PARKING"


def test_without_tesseract_read_text_reads_nothing_and_says_so(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    photos = tmp_path / "photos"
    photos.mkdir()
    sign(photos / "sign.png")
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), read_text=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 1
        shown = library.show(str(photos / "sign.png"))
    assert shown is not None and shown["alt_text"] and shown["image_text"] is None
    assert "no OCR engine is installed" in caplog.text


def test_a_failing_reader_costs_the_text_only(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext.captioning.ocr as ocr

    def broken(self: TesseractReader, image: Image.Image) -> str | None:
        raise OcrError("tesseract failed: Error in pixReadMem")

    monkeypatch.setattr(ocr, "find_reader", lambda lang="eng": TesseractReader("/bin/false"))
    monkeypatch.setattr(TesseractReader, "read", broken)
    photos = tmp_path / "photos"
    photos.mkdir()
    sign(photos / "sign.png")
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), read_text=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 1
        shown = library.show(str(photos / "sign.png"))
    assert shown is not None and shown["alt_text"] and shown["image_text"] is None


def test_only_confident_words_with_a_letter_or_digit_are_kept() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    rows = [
        (1, 1, 1, 1, "96.0", "EXIT"), (1, 1, 1, 2, "91.5", "only"), (1, 1, 2, 1, "88.0", "Gate"),
        (1, 1, 2, 2, "88.0", "4"), (1, 1, 2, 3, "95.0", "—"), (1, 1, 2, 4, f"{MIN_CONFIDENCE - 1}", "ll1"),
        (2, 1, 1, 1, "-1", ""),
    ]
    tsv = header + "".join(f"5\t1\t{b}\t{p}\t{line}\t{w}\t0\t0\t1\t1\t{conf}\t{text}\n"
                           for b, p, line, w, conf, text in rows)
    assert confident_text(tsv) == "EXIT only\nGate 4"

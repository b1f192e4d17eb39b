"""GPU logic without a GPU (docs/architecture.md §13): the dtype a device gets, half precision through the
families on CPU, and a batch that runs out of memory split rather than fatal (an out-of-memory error is
simulated by wrapping the family's ``generate``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alttext.captioning.engine import Captioner
from alttext.captioning.families.encoder_decoder import EncoderDecoderFamily
from alttext.captioning.loading import load_model
from alttext.captioning.memory import is_out_of_memory, run_fitting
from alttext.captioning.precision import resolve_precision, torch_dtype
from alttext.captioning.protocols import CaptionFailure
from alttext.cli import cli
from alttext.library import Library

COLOURS = [(200, 30, 30), (20, 30, 200), (30, 180, 40), (240, 240, 20), (250, 250, 250), (120, 60, 200),
           (20, 200, 200), (90, 90, 90)]
BLACK = (0, 0, 0)  # the image that never fits (ViT's normalisation makes every pixel value -1)


def _images(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (40, 32), colour) for colour in COLOURS[:count]]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Eight distinct photos, one of them black (``BLACK``)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for number, colour in enumerate([*COLOURS[:7], BLACK]):
        Image.new("RGB", (40, 32), colour).save(folder / f"p{number}.png")
    return folder


# -- precision -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_auto_is_bf16_on_a_cuda_device_that_supports_it_else_fp16(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert resolve_precision("auto", "cuda") == expected
    assert resolve_precision("auto", "cuda:1") == expected
    assert resolve_precision("fp32", "cuda") == "fp32"  # an explicit choice stands


def test_auto_is_fp16_on_mps_and_fp32_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cuda_question() -> bool:
        raise AssertionError("asked about CUDA for a device that isn't CUDA")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", no_cuda_question)
    assert resolve_precision("auto", "mps") == "fp16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert [torch_dtype(name) for name in ("fp32", "bf16", "fp16")] == [torch.float32, torch.bfloat16, torch.float16]
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int4", "cpu")
    with pytest.raises(ValueError, match="resolved"):
        torch_dtype("auto")


class _Stop(Exception):
    """Stops load_model once the dtype it asks for is seen (there is no GPU to move the model to)."""


@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_the_loader_asks_for_half_precision_when_auto_picks_a_gpu(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Path, bf16: bool, expected: torch.dtype
) -> None:
    from transformers import AutoModelForImageTextToText

    asked: list[Any] = []

    def from_pretrained(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("dtype"))
        raise _Stop

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", from_pretrained)
    with pytest.raises(_Stop):
        load_model(str(tiny_model), "auto")
    assert asked == [expected]


def test_cpu_loads_fp32_even_from_a_half_precision_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    """transformers' own default would keep a bf16 checkpoint's dtype; on CPU alttext asks for fp32."""
    from transformers import AutoModelForImageTextToText

    half = tmp_path / "half"
    AutoModelForImageTextToText.from_pretrained(tiny_model, dtype=torch.bfloat16).save_pretrained(half)
    for name in ("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"):
        if (tiny_model / name).is_file():
            (half / name).write_bytes((tiny_model / name).read_bytes())
    loaded = load_model(str(half), "cpu")
    assert loaded.model.dtype == torch.float32 and loaded.precision == "fp32"


def test_bf16_captions_on_cpu_and_is_stored_with_the_caption(tiny_model: Path, photos: Path, tmp_path: Path) -> None:
    captioner = Captioner(str(tiny_model), device="cpu", precision="bf16")
    assert captioner.loaded.model.dtype == torch.bfloat16
    seen: list[torch.dtype] = []
    captioner.loaded.model.get_encoder().register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["pixel_values"].dtype), with_kwargs=True)
    captions = captioner.caption_images(_images(3))
    assert seen == [torch.bfloat16]  # the pixels, cast by the family (some models would refuse fp32 ones)
    assert len(captions) == 3 and all(isinstance(caption, str) and caption for caption in captions)
    assert captioner.generation_params["precision"] == "bf16"
    assert "precision" not in Captioner(str(tiny_model), device="cpu").generation_params  # fp32: the default

    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), precision="bf16") as library:
        assert library.scan([str(photos)]).summary.captioned == 8
        shown = library.show(str(photos / "p0.png"))
        assert shown is not None and shown["params"]["precision"] == "bf16"


@pytest.mark.parametrize(("builder", "model_class"), [("build_tiny_florence2", "Florence2ForConditionalGeneration"),
                                                       ("build_tiny_idefics3", "Idefics3ForConditionalGeneration")])
def test_prompt_driven_families_get_pixels_in_the_model_dtype(
    builder: str, model_class: str, tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiny_models
    import transformers

    cls = getattr(transformers, model_class)
    original = cls.generate
    seen: list[torch.dtype] = []

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["pixel_values"].dtype)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "generate", generate)
    model = getattr(tiny_models, builder)(tmp_path / builder)
    result = CliRunner().invoke(cli, ["caption", str(photos / "p0.png"), str(photos / "p1.png"), "--model",
                                      str(model), "--precision", "bf16", "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [item["error"] for item in items] == [None, None] and all(item["alt_text"] for item in items)
    assert seen == [torch.bfloat16]


def test_int8_with_a_gpu_device_or_half_precision_is_one_line_before_loading(photos: Path) -> None:
    for flags, words in ((["--device", "cuda"], "--quantize int8 is for CPU"),
                         (["--precision", "bf16"], "--quantize int8 quantizes fp32 weights")):
        result = CliRunner().invoke(cli, ["caption", str(photos), "--model", "/nonexistent/model", "--quantize",
                                          "int8", *flags])
        assert result.exit_code == 2 and words in result.output, result.output
        assert "Traceback" not in result.output


def test_precision_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext.config import ConfigError, load_settings

    monkeypatch.setenv("ALTTEXT_PRECISION", "FP16")
    assert load_settings(path=tmp_path / "none.toml").precision == "fp16"
    monkeypatch.setenv("ALTTEXT_PRECISION", "half")
    with pytest.raises(ConfigError, match="precision"):
        load_settings(path=tmp_path / "none.toml")


# -- out of memory ---------------------------------------------------------------------------------------
def _oom_when(monkeypatch: pytest.MonkeyPatch, too_much: Callable[[list[np.ndarray]], bool]) -> list[int]:
    """Wrap the pixels-only family's generate: out of memory whenever ``too_much(batch)``; the sizes tried."""
    tried: list[int] = []
    original = EncoderDecoderFamily.generate

    def generate(self: EncoderDecoderFamily, prepared: Any, *args: Any, **kwargs: Any) -> list[str]:
        batch = list(prepared)
        tried.append(len(batch))
        if too_much(batch):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore detail")
        return original(self, prepared, *args, **kwargs)

    monkeypatch.setattr(EncoderDecoderFamily, "generate", generate)
    return tried


def _is_black(pixels: np.ndarray) -> bool:
    return bool(np.all(pixels == -1.0))


def test_an_out_of_memory_batch_is_split_and_the_size_that_fit_is_kept(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images = _images(8)
    expected = Captioner(str(tiny_model), device="cpu", batch_size=8).caption_images(images)
    captioner = Captioner(str(tiny_model), device="cpu", batch_size=8)
    tried = _oom_when(monkeypatch, lambda batch: len(batch) > 2)
    with caplog.at_level("WARNING"):
        outcomes = list(captioner.caption_stream(images, lambda image: image))
    assert [outcome.raw_caption for outcome in outcomes] == expected  # all of them, in the same order
    assert all(outcome.ok for outcome in outcomes)
    assert tried == [8, 4, 2, 2, 4, 2, 2]
    assert captioner.batch_size == 2
    assert [record.getMessage() for record in caplog.records if "batches of" in record.getMessage()] == [
        "out of memory on cpu: batches of 2 images from now on (was 8)"]

    tried.clear()
    assert captioner.caption_images(images) == expected
    assert tried == [2, 2, 2, 2]  # no out-of-memory attempt any more
    tried.clear()
    assert captioner.generate([captioner.preprocess(image) for image in images[:5]]) == expected[:5]
    assert tried == [2, 2, 1]  # a caller's larger batch is run in the size that fits


def test_an_image_that_never_fits_is_its_own_failure(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    captioner = Captioner(str(tiny_model), device="cpu", batch_size=8)
    _oom_when(monkeypatch, lambda batch: any(_is_black(pixels) for pixels in batch))
    images = [*_images(3), Image.new("RGB", (40, 32), BLACK), *_images(8)[3:]]
    captions = captioner.generate([captioner.preprocess(image) for image in images])
    failure = captions[3]
    assert isinstance(failure, CaptionFailure) and "out of memory" in failure.message
    assert "\n" not in failure.message
    assert all(isinstance(caption, str) and caption for index, caption in enumerate(captions) if index != 3)
    assert captioner.batch_size == 4  # the largest part that ran


def _oom_for_black(monkeypatch: pytest.MonkeyPatch) -> None:
    _oom_when(monkeypatch, lambda batch: any(_is_black(pixels) for pixels in batch))


def test_caption_command_reports_the_image_that_never_fits(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Path, photos: Path
) -> None:
    _oom_for_black(monkeypatch)
    result = CliRunner().invoke(cli, ["caption", str(photos), "--model", str(tiny_model), "--json"])
    items = {Path(item["path"]).name: item for item in json.loads(result.stdout)}
    assert len(items) == 8
    assert "out of memory" in items["p7.png"]["error"] and items["p7.png"]["alt_text"] is None
    assert all(item["error"] is None and item["alt_text"] for name, item in items.items() if name != "p7.png")


def test_scan_stores_the_rest_and_marks_the_image_that_never_fits_failed(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Path, photos: Path, tmp_path: Path
) -> None:
    _oom_for_black(monkeypatch)
    db = tmp_path / "index.sqlite3"
    result = CliRunner().invoke(cli, ["--db", str(db), "scan", str(photos), "--model", str(tiny_model), "--json"])
    assert result.exit_code == 1, result.output  # a file stays failed
    summary = json.loads(result.stdout)
    assert summary["captioned"] == 7 and summary["failed"] == 1
    with Library(db) as library:
        info = library.show(str(photos / "p7.png"))
        assert info is not None and info["state"] == "failed" and "out of memory" in info["error"]
        for number in range(7):
            shown = library.show(str(photos / f"p{number}.png"))
            assert shown is not None and shown["alt_text"]


def test_other_errors_are_not_taken_for_out_of_memory() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))

    def broken(chunk: Any) -> list[str]:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_fitting(broken, [1, 2, 3], limit=None, device="cpu", failed=CaptionFailure)
    results, fitted = run_fitting(lambda chunk: [str(item) for item in chunk], [1, 2, 3], limit=None, device="cpu",
                                  failed=CaptionFailure)
    assert (results, fitted) == (["1", "2", "3"], None)

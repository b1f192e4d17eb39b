"""Model families read from the config (docs/architecture.md §13): tiny random-weight Florence-2 and
Idefics3/SmolVLM models built here, captioned through ``alttext caption`` and ``Library.scan``.

Random weights give garbage words, so these check the flow: the family chosen, the prompt that reached the
model (the tiny tokenizers know the prompts' words, so the model's input ids decode back to them), text
returned, and the prompt and generation settings stored with each caption."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from alttext.captioning.families.chat_vlm import ALT_TEXT_PROMPT, DESCRIPTION_PROMPT
from alttext.captioning.loading import load_model
from alttext.cli import cli
from alttext.library import Library

# Florence2Processor's expansions of <CAPTION> and <DETAILED_CAPTION>
FLORENCE_CAPTION_QUESTION = "what does the image describe ?"
FLORENCE_DETAILED_QUESTION = "describe in detail what is shown in the image ."


def words(text: str) -> str:
    """Text as the tiny word-level tokenizers give it back: lower case, punctuation split off."""
    return " ".join(re.findall(r"\w+|[^\w\s]+", text.lower()))


@pytest.fixture(scope="module")
def florence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_florence2

    return build_tiny_florence2(tmp_path_factory.mktemp("tiny-florence2"))


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_idefics3

    return build_tiny_idefics3(tmp_path_factory.mktemp("tiny-idefics3"), prompt_words=(OWN_PROMPT,))


OWN_PROMPT = "Describe the dog on the beach in one sentence."


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (48, 40), (200, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (30, 50), (20, 30, 200)).save(folder / "blue.jpg")
    return folder


def spy_generate(monkeypatch: pytest.MonkeyPatch, model_class: type) -> list[dict[str, Any]]:
    """Record the keyword arguments of every ``generate`` call of ``model_class`` (then run it)."""
    calls: list[dict[str, Any]] = []
    original: Callable[..., Any] = model_class.generate  # type: ignore[attr-defined]

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(model_class, "generate", generate)
    return calls


def prompts_seen(calls: list[dict[str, Any]], model_folder: Path) -> list[str]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    return [tokenizer.decode(row, skip_special_tokens=True) for call in calls for row in call["input_ids"]]


def caption_json(model: Path, photos: Path, *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["caption", str(photos), "--model", str(model), "--json", *extra])
    assert result.exit_code == 0, result.output
    items: list[dict[str, Any]] = json.loads(result.stdout)
    return items


def test_the_family_comes_from_the_config_not_the_name(
    florence: Path, idefics3: Path, tiny_model: Path, tmp_path: Path
) -> None:
    misleading = {
        "nlpconnect-vit-gpt2-image-captioning": (florence, "florence-2"),
        "Florence-2-base": (idefics3, "chat-vlm"),
        "SmolVLM-256M-Instruct": (tiny_model, "encoder-decoder"),
    }
    for name, (source, family) in misleading.items():
        folder = shutil.copytree(source, tmp_path / name)
        assert load_model(str(folder), "cpu").family == family, name


def test_florence_captions_with_the_caption_task(
    florence: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Florence2ForConditionalGeneration

    calls = spy_generate(monkeypatch, Florence2ForConditionalGeneration)
    items = caption_json(florence, photos)
    assert sorted(Path(item["path"]).name for item in items) == ["blue.jpg", "red.png"]
    for item in items:
        assert item["error"] is None and item["alt_text"] and item["raw_caption"]
        assert item["model"] == str(florence)
    assert prompts_seen(calls, florence) == [FLORENCE_CAPTION_QUESTION] * 2  # one batch of both images
    assert all(call["pixel_values"].shape[0] == 2 for call in calls)


def test_florence_scan_stores_the_task_and_settings(florence: Path, photos: Path, tmp_path: Path) -> None:
    with Library(tmp_path / "index.sqlite3", model=str(florence)) as library:
        result = library.scan([str(photos)])
        assert result.summary.captioned == 2
        for name in ("red.png", "blue.jpg"):
            shown = library.show(str(photos / name))
            assert shown is not None and shown["alt_text"]
            assert shown["model"] == str(florence)
            assert "model_revision" in shown
            assert shown["params"]["prompt"] == "<CAPTION>"
            assert shown["params"]["max_new_tokens"] == 6 and shown["params"]["num_beams"] == 1


def test_chat_vlm_is_asked_for_alt_text_through_its_chat_template(
    idefics3: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Idefics3ForConditionalGeneration

    calls = spy_generate(monkeypatch, Idefics3ForConditionalGeneration)
    items = caption_json(idefics3, photos)
    assert all(item["error"] is None and item["alt_text"] for item in items)
    seen = prompts_seen(calls, idefics3)
    assert len(seen) == 2
    for prompt in seen:  # the template's turns around alttext's prompt, the image tokens dropped by decode
        assert prompt == f"user : {words(ALT_TEXT_PROMPT)} assistant :"


def test_caption_prompt_setting_replaces_the_chat_prompt_and_is_stored(
    idefics3: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Idefics3ForConditionalGeneration

    calls = spy_generate(monkeypatch, Idefics3ForConditionalGeneration)
    with Library(tmp_path / "index.sqlite3", model=str(idefics3), caption_prompt=OWN_PROMPT) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        shown = library.show(str(photos / "red.png"))
    assert shown is not None and shown["alt_text"]
    assert shown["params"]["prompt"] == OWN_PROMPT
    assert shown["params"]["max_new_tokens"] == 6
    assert all(words(OWN_PROMPT) in prompt for prompt in prompts_seen(calls, idefics3))


def test_caption_prompt_from_the_environment_reaches_the_cli(
    idefics3: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Idefics3ForConditionalGeneration

    calls = spy_generate(monkeypatch, Idefics3ForConditionalGeneration)
    monkeypatch.setenv("ALTTEXT_CAPTION_PROMPT", OWN_PROMPT)
    caption_json(idefics3, photos)
    assert all(words(OWN_PROMPT) in prompt for prompt in prompts_seen(calls, idefics3))


def test_pixels_only_captions_store_no_prompt(tiny_model: Path, photos: Path, tmp_path: Path) -> None:
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model)) as library:
        library.scan([str(photos)])
        shown = library.show(str(photos / "red.png"))
    assert shown is not None and shown["alt_text"]
    assert "prompt" not in shown["params"] and shown["params"]["num_beams"] == 2


def test_a_model_of_no_family_gets_one_line(tmp_path: Path, photos: Path) -> None:
    from transformers import BertConfig

    folder = tmp_path / "a-text-model"
    BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(folder)
    result = CliRunner().invoke(cli, ["caption", str(photos), "--model", str(folder)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'bert' model, which does not turn images into text" in lines[0]
    assert "Florence-2" in lines[0]


def test_a_chat_model_without_a_chat_template_gets_one_line(tmp_path: Path, photos: Path) -> None:
    from tiny_models import build_tiny_idefics3

    folder = build_tiny_idefics3(tmp_path / "no-template", chat_template=False)
    result = CliRunner().invoke(cli, ["caption", str(photos), "--model", str(folder)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no chat template" in lines[0]


# -- two lengths of text: alt text and, with --describe, a long description beside it -------------------------
SHORT_DESCRIPTION = 10  # new tokens: random weights never stop by themselves, and 256 steps cost seconds


@pytest.fixture(autouse=True)
def short_descriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.captioning.engine

    monkeypatch.setattr(alttext.captioning.engine, "DESCRIPTION_MAX_NEW_TOKENS", SHORT_DESCRIPTION)


def test_describe_gives_florence_a_second_task_and_a_separate_field(
    florence: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Florence2ForConditionalGeneration

    calls = spy_generate(monkeypatch, Florence2ForConditionalGeneration)
    items = caption_json(florence, photos, "--describe")
    for item in items:
        assert item["error"] is None and item["alt_text"] and item["description"]
    assert prompts_seen(calls, florence) == [FLORENCE_CAPTION_QUESTION] * 2 + [FLORENCE_DETAILED_QUESTION] * 2
    assert calls[0]["max_new_tokens"] == 6 and calls[1]["max_new_tokens"] == SHORT_DESCRIPTION


def test_without_describe_there_is_no_description(florence: Path, photos: Path) -> None:
    assert all(item["description"] is None and item["alt_text"] for item in caption_json(florence, photos))


def test_scan_with_describe_stores_the_description_and_show_prints_it(
    idefics3: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Idefics3ForConditionalGeneration

    calls = spy_generate(monkeypatch, Idefics3ForConditionalGeneration)
    db = tmp_path / "index.sqlite3"
    with Library(db, model=str(idefics3), describe=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        shown = library.show(str(photos / "blue.jpg"))
    assert shown is not None and shown["alt_text"] and shown["description"]
    assert shown["description"] != shown["alt_text"] or shown["captions"][0]["description"] == shown["description"]
    assert shown["params"]["prompt"] == ALT_TEXT_PROMPT
    assert shown["params"]["description_prompt"] == DESCRIPTION_PROMPT
    seen = prompts_seen(calls, idefics3)
    assert [words(ALT_TEXT_PROMPT) in text for text in seen] == [True, True, False, False]
    assert [words(DESCRIPTION_PROMPT) in text for text in seen] == [False, False, True, True]
    monkeypatch.setenv("ALTTEXT_DB", str(db))
    result = CliRunner().invoke(cli, ["show", str(photos / "blue.jpg")])
    assert result.exit_code == 0, result.output
    assert f"description: {shown['description']}" in result.stdout
    result = CliRunner().invoke(cli, ["show", str(photos / "blue.jpg"), "--json"])
    assert json.loads(result.stdout)["description"] == shown["description"]


def test_a_persons_edit_keeps_the_models_description_in_view(idefics3: Path, photos: Path, tmp_path: Path) -> None:
    with Library(tmp_path / "index.sqlite3", model=str(idefics3), describe=True) as library:
        library.scan([str(photos)])
        described = library.show(str(photos / "red.png"))
        library.edit(str(photos / "red.png"), "A red square.")
        shown = library.show(str(photos / "red.png"))
    assert described is not None and shown is not None
    assert shown["alt_text"] == "A red square." and shown["source"] == "human"
    assert shown["description"] == described["description"]


def test_pixels_only_models_give_alt_text_only_even_with_describe(
    tiny_model: Path, photos: Path, tmp_path: Path
) -> None:
    items = caption_json(tiny_model, photos, "--describe")
    assert all(item["alt_text"] and item["description"] is None for item in items)
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), describe=True) as library:
        library.scan([str(photos)])
        shown = library.show(str(photos / "red.png"))
        assert library.load_captioner().calls == 1  # one batch, no second pass
    assert shown is not None and shown["description"] is None
    assert "description_prompt" not in shown["params"]


def test_a_failing_description_never_costs_the_alt_text(
    florence: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alttext.captioning.families.florence import FlorenceFamily

    original = FlorenceFamily.generate

    def generate(self: FlorenceFamily, prepared: Any, kwargs: dict[str, Any], *, describe: bool = False) -> list[str]:
        if describe:
            raise RuntimeError("out of memory")
        return original(self, prepared, kwargs)

    monkeypatch.setattr(FlorenceFamily, "generate", generate)
    items = caption_json(florence, photos, "--describe")
    assert all(item["alt_text"] and item["description"] is None and item["error"] is None for item in items)
    with Library(tmp_path / "index.sqlite3", model=str(florence), describe=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        shown = library.show(str(photos / "red.png"))
    assert shown is not None and shown["alt_text"] and shown["description"] is None


# -- text in the image: read in a pass of its own, stored apart, searched, quoted when the picture is mostly text
FLORENCE_OCR_QUESTION = "what is the text in the image ?"
SHORT_TEXT = 8  # new tokens (random weights never stop by themselves)


@pytest.fixture(autouse=True)
def short_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    import alttext.captioning.engine

    monkeypatch.setattr(alttext.captioning.engine, "IMAGE_TEXT_MAX_NEW_TOKENS", SHORT_TEXT)


def test_read_text_gives_florence_the_ocr_task_and_a_separate_field(
    florence: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Florence2ForConditionalGeneration

    calls = spy_generate(monkeypatch, Florence2ForConditionalGeneration)
    items = caption_json(florence, photos, "--read-text")
    for item in items:
        assert item["error"] is None and item["alt_text"] and item["image_text"] and item["description"] is None
    assert prompts_seen(calls, florence) == [FLORENCE_CAPTION_QUESTION] * 2 + [FLORENCE_OCR_QUESTION] * 2
    assert calls[1]["max_new_tokens"] == SHORT_TEXT and calls[1]["num_beams"] == 1
    assert all(item["image_text"] is None for item in caption_json(florence, photos))  # not asked: no pass


def _florence_reads(monkeypatch: pytest.MonkeyPatch, alt: str, text: str) -> None:
    """The model (still run, still counted) answers ``alt`` for alt text and ``text`` for <OCR>."""
    from alttext.captioning.families.florence import FlorenceFamily

    original = FlorenceFamily.generate

    def generate(self: FlorenceFamily, prepared: Any, kwargs: dict[str, Any], *, describe: bool = False,
                 read_text: bool = False) -> list[str]:
        original(self, prepared, kwargs, describe=describe, read_text=read_text)
        return [text if read_text else alt] * len(prepared)

    monkeypatch.setattr(FlorenceFamily, "generate", generate)


def test_a_sign_is_quoted_in_its_alt_text_and_its_text_is_searched_shown_and_exported(
    florence: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _florence_reads(monkeypatch, "a red sign on a pole", "NO PARKING  ")
    db = tmp_path / "index.sqlite3"
    with Library(db, model=str(florence), read_text=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        assert library.load_captioner().calls == 2  # one batch: alt text, then the text
        shown = library.show(str(photos / "red.png"))
        assert shown is not None
        assert shown["alt_text"] == 'A red sign on a pole, reading "NO PARKING".'
        assert shown["raw_caption"] == "a red sign on a pole" and shown["image_text"] == "NO PARKING"
        assert shown["params"]["text_prompt"] == "<OCR>"
        library.edit(str(photos / "red.png"), "The sign at our gate.")  # a person's text is theirs alone
        edited = library.show(str(photos / "red.png"))
        assert edited is not None and edited["alt_text"] == "The sign at our gate."
        assert edited["image_text"] == "NO PARKING"  # still the picture's
        hits = library.search("parking", mode="words")
        assert sorted(Path(hit.path).name for hit in hits) == ["blue.jpg", "red.png"]
        assert {hit.image_text for hit in hits} == {"NO PARKING"}
        exported = "".join(library.export("json"))
    assert {row["image_text"] for row in json.loads(exported)} == {"NO PARKING"}
    monkeypatch.setenv("ALTTEXT_DB", str(db))
    result = CliRunner().invoke(cli, ["show", str(photos / "red.png")])
    assert "image text: NO PARKING" in result.stdout
    result = CliRunner().invoke(cli, ["search", "parking", "--fts", "--json"])
    assert {hit["image_text"] for hit in json.loads(result.stdout)} == {"NO PARKING"}


def test_text_in_a_photo_that_is_not_mostly_text_stays_out_of_the_alt_text(
    florence: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _florence_reads(monkeypatch, "a street with cafes at dusk", "Bar")
    with Library(tmp_path / "index.sqlite3", model=str(florence), read_text=True) as library:
        library.scan([str(photos)])
        shown = library.show(str(photos / "blue.jpg"))
    assert shown is not None and shown["alt_text"] == "A street with cafes at dusk." and shown["image_text"] == "Bar"


def test_none_means_no_text(florence: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _florence_reads(monkeypatch, "a red sign", "None.")
    items = caption_json(florence, photos, "--read-text")
    assert all(item["image_text"] is None and item["alt_text"] == "A red sign." for item in items)


def test_chat_vlm_is_asked_for_the_text_verbatim(
    idefics3: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Idefics3ForConditionalGeneration

    from alttext.captioning.families.chat_vlm import TEXT_PROMPT

    calls = spy_generate(monkeypatch, Idefics3ForConditionalGeneration)
    with Library(tmp_path / "index.sqlite3", model=str(idefics3), read_text=True, describe=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2
        shown = library.show(str(photos / "red.png"))
    assert shown is not None and shown["image_text"] and shown["description"]
    assert shown["params"]["text_prompt"] == TEXT_PROMPT
    seen = prompts_seen(calls, idefics3)  # alt text, description, text: one pass each over the batch of two
    assert [words(TEXT_PROMPT) in text for text in seen] == [False, False, False, False, True, True]


def test_pixels_only_models_read_no_text(tiny_model: Path, photos: Path, tmp_path: Path) -> None:
    with Library(tmp_path / "index.sqlite3", model=str(tiny_model), read_text=True) as library:
        library.scan([str(photos)])
        shown = library.show(str(photos / "red.png"))
        assert library.load_captioner().calls == 1
    assert shown is not None and shown["image_text"] is None and "text_prompt" not in shown["params"]


def test_a_failing_text_pass_never_costs_the_alt_text(
    florence: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alttext.captioning.families.florence import FlorenceFamily

    original = FlorenceFamily.generate

    def generate(self: FlorenceFamily, prepared: Any, kwargs: dict[str, Any], *, describe: bool = False,
                 read_text: bool = False) -> list[str]:
        if read_text:
            raise RuntimeError("out of memory")
        return original(self, prepared, kwargs)

    monkeypatch.setattr(FlorenceFamily, "generate", generate)
    items = caption_json(florence, photos, "--read-text")
    assert all(item["alt_text"] and item["image_text"] is None and item["error"] is None for item in items)
    with Library(tmp_path / "index.sqlite3", model=str(florence), read_text=True) as library:
        assert library.scan([str(photos)]).summary.captioned == 2

"""When the text read in a picture goes into its alt text (docs/architecture.md §15): the measured rule, the
quote, and the length rule."""

from __future__ import annotations

from alttext.alt_text import MAX_ALT_LENGTH
from alttext.captioning.families import IMAGE_TEXT_MAX_CHARS, clean_image_text
from alttext.text_in_image import MANY_WORDS, fold_image_text, is_mostly_text


def test_a_thing_made_to_carry_text_with_text_on_it_is_mostly_text() -> None:
    assert is_mostly_text("A red sign on a pole.", "NO PARKING")
    assert is_mostly_text("A screenshot of a settings page.", "Wi-Fi")
    assert not is_mostly_text("A red sign on a pole.", None)  # a sign nobody could read
    assert not is_mostly_text("A red sign on a pole.", "—")  # no word at all


def test_a_photo_with_a_few_words_somewhere_is_not() -> None:
    assert not is_mostly_text("A street with cafes at dusk.", "Bar Roma")
    assert not is_mostly_text("A dog on a beach.", "Lifeguard")


def test_many_words_are_mostly_text_whatever_the_model_called_it() -> None:
    page = " ".join(f"word{i}" for i in range(MANY_WORDS))
    assert is_mostly_text("A white rectangle.", page)
    assert not is_mostly_text("A white rectangle.", " ".join(page.split()[:-1]))


def test_the_text_is_quoted_at_the_end() -> None:
    assert fold_image_text("A red sign on a pole.", "NO PARKING") == 'A red sign on a pole, reading "NO PARKING".'
    assert fold_image_text("A street with cafes.", "Bar Roma") == "A street with cafes."
    assert fold_image_text("A poster.", 'Say "cheese"') == 'A poster, reading "Say \'cheese\'".'


def test_text_the_alt_text_already_says_is_not_repeated() -> None:
    alt = "A sign that says No Parking on a pole."
    assert fold_image_text(alt, "NO PARKING") == alt


def test_the_alt_text_stays_within_the_length_rule() -> None:
    slide = " ".join(["Quarterly results exceeded every forecast"] * 20)
    folded = fold_image_text("A presentation slide with a chart.", slide)
    assert len(folded) <= MAX_ALT_LENGTH and folded.endswith('…".')
    assert folded.startswith('A presentation slide with a chart, reading "Quarterly results')
    assert " forecas…" not in folded  # cut at a word boundary
    long_alt = "A sign " + "very " * 46 + "tall."  # no room left for a quote worth reading
    assert len(long_alt) <= MAX_ALT_LENGTH and fold_image_text(long_alt, "STOP") == long_alt


def test_what_a_reader_answers_is_cleaned() -> None:
    assert clean_image_text('  "NO\n PARKING" ') == "NO PARKING"
    for nothing in ("", "   ", "none", "None.", "No text", "N/A", "…", None):
        assert clean_image_text(nothing) is None
    long = clean_image_text("word " * 1000)
    assert long is not None and len(long) <= IMAGE_TEXT_MAX_CHARS + 1 and long.endswith("…")

"""Defensive parsing of model replies (pure functions, no server needed)."""

from __future__ import annotations

import pytest

from alttext.variants import parse_variants, shorten


@pytest.mark.parametrize(
    "line",
    [
        "1. Sunset vibes",
        "1) Sunset vibes",
        "(1) Sunset vibes",
        "1: Sunset vibes",
        "1 - Sunset vibes",
        "#1. Sunset vibes",
        "- Sunset vibes",
        "* Sunset vibes",
        "• Sunset vibes",
        "+ Sunset vibes",
        '"Sunset vibes"',
        "“Sunset vibes”",
        "'Sunset vibes'",
        "**Sunset vibes**",
        "*Sunset vibes*",
        "`Sunset vibes`",
        '1. **"Sunset vibes"**',
        "- Caption 1: “Sunset vibes”",
        "Variant 2: Sunset vibes",
        "  Sunset   vibes  ",
        '"Sunset vibes',
    ],
)
def test_markers_quotes_and_markdown_are_stripped(line):
    assert parse_variants(line, 3) == ["Sunset vibes"]


def test_closing_quote_before_final_punctuation():
    assert parse_variants('"Sunset vibes".', 1) == ["Sunset vibes."]


def test_numbers_that_belong_to_the_caption_are_kept():
    assert parse_variants("3.5 million stars above\n2024 was a year of circles", 3) == [
        "3.5 million stars above",
        "2024 was a year of circles",
    ]


def test_chatter_headings_and_asides_are_dropped():
    reply = (
        "Sure! Here are three catchy captions for your photo:\n\n"
        "### Catchy captions:\n"
        "1. Red meets blue\n"
        "---\n"
        "2. Shapes of joy\n"
        "#redcircle #bluesquare\n"
        "(Note: feel free to tweak these.)\n"
        "3. Primary school of thought\n\n"
        "I hope these help! Let me know if you'd like more."
    )
    assert parse_variants(reply, 3) == ["Red meets blue", "Shapes of joy", "Primary school of thought"]


def test_a_refusal_gives_nothing():
    assert parse_variants("I'm sorry, but I can't help with that request.", 3) == []


def test_code_fences_and_json_arrays():
    assert parse_variants('```json\n["Red meets blue", "Shapes of joy"]\n```', 3) == ["Red meets blue", "Shapes of joy"]
    assert parse_variants('{"captions": ["Red meets blue"]}', 3) == ["Red meets blue"]
    assert parse_variants("```\nRed meets blue\nShapes of joy\n```", 3) == ["Red meets blue", "Shapes of joy"]


def test_all_items_on_one_line():
    assert parse_variants("1. Red meets blue 2. Shapes of joy 3. Circle of friends", 3) == [
        "Red meets blue",
        "Shapes of joy",
        "Circle of friends",
    ]


def test_duplicates_ignoring_case_and_punctuation_are_dropped():
    reply = "Red meets blue\nred meets blue!\nRED MEETS BLUE.\nShapes of joy"
    assert parse_variants(reply, 3) == ["Red meets blue", "Shapes of joy"]


def test_excluded_texts_do_not_count():
    reply = "A red circle and a blue square\nRed meets blue\nShapes of joy"
    assert parse_variants(reply, 3, exclude=["a red circle and a blue square", "shapes of JOY"]) == ["Red meets blue"]


def test_more_than_n_is_trimmed_in_order():
    assert parse_variants("One line\nTwo line\nThree line\nFour line", 2) == ["One line", "Two line"]


def test_truncated_reply_loses_its_last_line():
    assert parse_variants("Red meets blue\nShapes of joy\nCircle of fri", 3, truncated=True) == [
        "Red meets blue",
        "Shapes of joy",
    ]


@pytest.mark.parametrize("reply", [None, "", "\n\n  \n", "---\n***", 42])
def test_empty_or_junk_replies_give_nothing(reply):
    assert parse_variants(reply, 3) == []


def test_long_line_is_cut_at_the_last_sentence_boundary_that_fits():
    text = "Red and blue make a bold pair. They sit on white! " + "Then it rambles on " * 20
    cut = shorten(text, 120)
    assert cut == "Red and blue make a bold pair. They sit on white!"


def test_long_line_without_sentence_boundary_is_cut_at_a_word_with_ellipsis():
    text = "red circle " * 40
    cut = shorten(text.strip(), 100)
    assert len(cut) <= 100 and cut.endswith("circle…") and "  " not in cut


def test_a_very_early_sentence_end_is_not_used():
    text = "Wow. " + "a long unbroken run of words " * 10
    cut = shorten(text, 100)
    assert cut.endswith("…") and len(cut) > 60


def test_parse_applies_the_length_limit():
    [variant] = parse_variants("x" * 20 + " " + "word " * 100, 1, max_chars=50)
    assert len(variant) <= 50

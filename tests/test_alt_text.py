from alttext.alt_text import MAX_ALT_LENGTH, to_alt_text


def test_capitalises_and_ends_with_a_period() -> None:
    assert to_alt_text("a dog running on a beach") == "A dog running on a beach."


def test_keeps_existing_final_punctuation() -> None:
    assert to_alt_text("is it a bird?") == "Is it a bird?"


def test_removes_image_of_lead_ins() -> None:
    assert to_alt_text("an image of a cat on a sofa") == "A cat on a sofa."
    assert to_alt_text("A picture of a red bus") == "A red bus."
    assert to_alt_text("a close up photo of a flower") == "A flower."
    assert to_alt_text("there is a picture of an image of a boat") == "A boat."


def test_does_not_strip_words_that_merely_start_like_a_lead_in() -> None:
    assert to_alt_text("a photographer holding a camera") == "A photographer holding a camera."


def test_collapses_repeated_words_and_phrases() -> None:
    assert to_alt_text("a a dog dog on the beach") == "A dog on the beach."
    assert to_alt_text("a man on a horse on a horse on a horse") == "A man on a horse."


def test_whitespace_quotes_and_special_tokens() -> None:
    assert to_alt_text('  "a   cat\n sleeping"  ') == "A cat sleeping."
    assert to_alt_text("<|endoftext|> a cat [SEP]") == "A cat."


def test_empty_results() -> None:
    assert to_alt_text("") == ""
    assert to_alt_text("   ") == ""
    assert to_alt_text("<|endoftext|>") == ""


def test_long_captions_are_cut_at_a_word_boundary() -> None:
    raw = " ".join(f"word{i}" for i in range(200))
    alt = to_alt_text(raw)
    assert len(alt) <= MAX_ALT_LENGTH
    assert alt.endswith(".")
    assert alt[:-1].split()[-1].startswith("word")  # no half word


def test_non_latin_text_survives() -> None:
    assert to_alt_text("ein Hund am Strand, schön") == "Ein Hund am Strand, schön."
    assert to_alt_text("كلب على الشاطئ") == "كلب على الشاطئ."


def test_length_limit_is_exact() -> None:
    for length in range(MAX_ALT_LENGTH - 3, MAX_ALT_LENGTH + 3):
        raw = ("x" * (length - 2)) + " y"
        assert len(to_alt_text(raw)) <= MAX_ALT_LENGTH

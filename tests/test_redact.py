"""The one redaction rule (alttext/redact.py): known secrets, credential shapes, and prose left alone."""

from __future__ import annotations

import base64

import pytest

from alttext.redact import redact, url_secrets

KEY = "alttext-test-key-7Qx9Zr2LmN"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"you sent Bearer {KEY}", "you sent Bearer [redacted]"),
        ('{"authorization": "Basic dXNlcjpzZWNyZXQ="}', '{"authorization": "Basic [redacted]"}'),
        ("Authorization: letmein", "Authorization: [redacted]"),
        ("key sk-abcdefghijklmnop!", "key [redacted]!"),
        ("http://user:secret@127.0.0.1:1/v1", "http://user:[redacted]@127.0.0.1:1/v1"),
        ("http://user:p@ss@host/v1", "http://user:[redacted]@host/v1"),
        ("https://TOKEN123@host/v1", "https://[redacted]@host/v1"),
        ("GET https://h/v1?api_key=abc&x=1&access_token=zz#f", "GET https://h/v1?api_key=[redacted]&x=1&access_token=[redacted]#f"),
    ],
)
def test_credential_shapes_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "prose",
    [
        "The ring bearer smiles, bearer of good news",
        "Basic shapes on a white background",
        "A sketch of authorization forms",
        "http://127.0.0.1:8080/v1/chat/completions?model=x",
        "Skating at the sk-8 park",
    ],
)
def test_ordinary_text_is_left_alone(prose: str) -> None:
    assert redact(prose) == prose


def test_known_secrets_go_wherever_they_are_longest_first() -> None:
    assert redact(f"a{KEY}b {KEY[:-3]}", [KEY[:-3], KEY]) == "a[redacted]b [redacted]"
    assert redact("abc and abc", ["abc"]) == "abc and abc"  # too short to be a secret we guard
    assert redact("nothing", [None, ""]) == "nothing"


def test_url_secrets() -> None:
    basic = base64.b64encode(b"alice:pw 1").decode()
    assert set(url_secrets("http://alice:pw%201@host/v1?token=t0k3n&model=m")) == {"pw%201", "pw 1", basic, "t0k3n"}
    assert url_secrets("https://T0KEN@host/v1") == ["T0KEN", "T0KEN"]
    assert url_secrets("http://127.0.0.1:8080/v1") == []
    assert url_secrets(None) == [] and url_secrets("http://host:notaport/") == []

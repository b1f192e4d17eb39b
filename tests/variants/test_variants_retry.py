"""Retry-After parsing and the retry policy."""

from __future__ import annotations

import email.utils

import httpx2
import pytest

from alttext.variants import RetryPolicy, VariantCallError, parse_retry_after, redact

NOW = 1_700_000_000.0


def headers(**values: str) -> httpx2.Headers:
    return httpx2.Headers({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(given, expected):
    assert parse_retry_after(httpx2.Headers(given), now=NOW) == expected


def _error(status: int | None, kind: str = "server_error", retry_after: float | None = None) -> VariantCallError:
    transient = status is None or status in (408, 429) or status >= 500
    return VariantCallError("x", kind=kind, transient=transient, status=status, retry_after=retry_after)


def test_policy_retries_only_transient_errors():
    policy = RetryPolicy(retry_after_cap=60)
    assert policy.should_retry(_error(429, "rate_limited"))
    assert policy.should_retry(_error(500)) and policy.should_retry(_error(503))
    assert policy.should_retry(_error(None, "timeout")) and policy.should_retry(_error(None, "connection"))
    for status in (400, 401, 403, 404, 422):
        assert not policy.should_retry(_error(status, "http_error"))
    assert not policy.should_retry(VariantCallError("x", kind="malformed", transient=False))
    assert not policy.should_retry(ValueError("not ours"))
    assert policy.should_retry(_error(429, "rate_limited", retry_after=60))
    assert not policy.should_retry(_error(429, "rate_limited", retry_after=61))


def test_policy_waits_exponentially_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4, retry_after_cap=10)
    for retry, top in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        assert 0.75 * top <= policy.wait_seconds(retry, _error(500)) <= top
    assert policy.wait_seconds(1, _error(429, retry_after=3)) == 3
    assert policy.wait_seconds(1, _error(429, retry_after=30)) == 10


def test_redact():
    text = "key sk-abcdefghijklmnop, Authorization: Bearer tok123, url https://u:pw@host/v1, mine SECRETVALUE"
    out = redact(text, ["SECRETVALUE"])
    for secret in ("sk-abcdefghijklmnop", "tok123", "u:pw", "SECRETVALUE"):
        assert secret not in out

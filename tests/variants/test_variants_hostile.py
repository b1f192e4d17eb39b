"""Issue 13, items 5 and 6: servers that drip, stay silent, send 200 MB or echo the key back.

The deadline and the size cap come from settings here (``from_settings``), as they do in the CLI, so
each test shows the setting working end to end through the real openai client and real sockets.
"""

from __future__ import annotations

import base64
import time
import tracemalloc
from pathlib import Path

import pytest
from fake_llm_server import TEST_API_KEY as API_KEY
from fake_llm_server import FakeLLMServer, Reply, echo_authorization

from alttext.config import load_settings
from alttext.variants import VariantClient

CAPTION = "a red circle and a blue square on a white background"
THREE = "Bold red\nBlue mood\nShapes at play"
HUGE = 200 * 1024 * 1024
MiB = 1024 * 1024


def client_from_settings(server: FakeLLMServer, tmp_path: Path, sleep=time.sleep, **settings: str) -> VariantClient:
    """The client as the CLI builds it, with ``settings`` as ALTTEXT_* variables; a long per-read
    timeout (30 s, the default) so that only the deadline can end a slow call quickly."""
    environ = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY, "ALTTEXT_OPENAI_MODEL": "test-model"}
    environ.update({f"ALTTEXT_{name.upper()}": value for name, value in settings.items()})
    loaded = load_settings(environ=environ, path=tmp_path / "none.toml")
    return VariantClient.from_settings(loaded, backoff_base=0.01, backoff_max=0.05, sleep=sleep)


# -- item 5: one deadline per chat call -------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_server_dripping_one_byte_at_a_time_is_cut_off_at_the_deadline(fake_llm: FakeLLMServer, tmp_path):
    # ~600 bytes at one per 0.2 s would take two minutes; no single read ever waits 30 s.
    fake_llm.default = Reply.ok(THREE).dripping(0.2)
    with client_from_settings(fake_llm, tmp_path, variants_deadline="1.5") as client:
        started = time.monotonic()
        result = client.generate_variants(CAPTION)
        elapsed = time.monotonic() - started

    assert (result.error_kind, result.transient, result.texts) == ("timeout", True, [])
    assert result.error.startswith("no complete reply from http://127.0.0.1:")
    assert result.error.endswith("within 1.5 s (setting variants_deadline)")
    assert elapsed < 1.5 + 1.5, elapsed  # the deadline, not the two minutes the drip would take
    assert fake_llm.request_count == 1  # no retry starts after the deadline


@pytest.mark.timeout(60)
def test_a_silent_server_costs_one_deadline_not_a_read_timeout_per_try(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = Reply.silent()
    with client_from_settings(fake_llm, tmp_path, variants_deadline="1") as client:
        assert client.timeout == 30 and client.policy.max_retries == 3  # 4 x 30 s without a deadline
        started = time.monotonic()
        result = client.generate_variants(CAPTION)
        elapsed = time.monotonic() - started

    assert (result.error_kind, result.transient, result.requests_made) == ("timeout", True, 1)
    assert "within 1 s" in result.error
    assert elapsed < 1 + 1.5, elapsed


@pytest.mark.timeout(60)
def test_the_deadline_covers_the_retries_of_a_call(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.script(Reply.error(500, "boom"), Reply.error(502, "bad gateway"))
    fake_llm.default = Reply.silent()
    with client_from_settings(fake_llm, tmp_path, variants_deadline="1.5") as client:
        started = time.monotonic()
        result = client.generate_variants(CAPTION)
        elapsed = time.monotonic() - started

    assert (result.error_kind, result.requests_made) == ("timeout", 3)  # 500, 502, then silence
    assert elapsed < 1.5 + 1.5, elapsed


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(fake_llm: FakeLLMServer, tmp_path, sleeps):
    fake_llm.default = Reply.error(503, "busy", headers={"Retry-After": "5"})
    with client_from_settings(fake_llm, tmp_path, sleep=sleeps, variants_deadline="2") as client:
        result = client.generate_variants(CAPTION)

    assert (result.error_kind, result.transient, result.requests_made) == ("server_error", True, 1)
    assert "Retry-After 5 s" in result.error
    assert sleeps.calls == []


def test_the_deadline_is_per_call_not_per_client(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = Reply.ok(THREE, delay=0.4)
    with client_from_settings(fake_llm, tmp_path, variants_deadline="1") as client:
        results = [client.generate_variants(CAPTION) for _ in range(4)]  # 1.6 s in all
    assert all(result.ok for result in results), [result.error for result in results]


# -- item 5: a cap on the size of a reply -----------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("framing", ["chunked", "close", "length"])
def test_a_200_mb_reply_is_cut_at_the_cap_while_it_streams(fake_llm: FakeLLMServer, tmp_path, framing):
    fake_llm.default = Reply.huge(HUGE, framing=framing)
    with client_from_settings(fake_llm, tmp_path) as client:  # the default cap: 1 MiB
        tracemalloc.start()
        try:
            result = client.generate_variants(CAPTION)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert (result.error_kind, result.transient, result.requests_made) == ("too_large", False, 1)
    assert f"is larger than {MiB} bytes" in result.error and "variants_max_reply_bytes" in result.error
    # The client stopped reading: what left the server is the cap plus what the kernel's socket buffers
    # took in before the connection closed (about 7 MB here), not 200 MB; and the client held little
    # more than the cap (about 1.5 MB here; Python allocations, both threads, traced).
    assert fake_llm.bytes_sent < 64 * MiB, fake_llm.bytes_sent
    assert peak < 16 * MiB, peak


def test_a_reply_under_the_cap_is_read_whole(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = Reply.huge(200 * 1024, framing="chunked")
    with client_from_settings(fake_llm, tmp_path, variants_max_reply_bytes=str(MiB)) as client:
        result = client.generate_variants(CAPTION, n=1)
    assert result.ok and result.texts[0].startswith("aaaa")  # one long line, cut to a variant's length


def test_a_compressed_reply_we_did_not_ask_for_is_refused(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = Reply(200, body=b"\x1f\x8b not really gzip", headers={"Content-Encoding": "gzip"})
    with client_from_settings(fake_llm, tmp_path) as client:
        result = client.generate_variants(CAPTION)
    assert (result.error_kind, result.transient) == ("malformed", False)
    assert "compressed (gzip)" in result.error
    assert fake_llm.chat_requests[0].headers["accept-encoding"] == "identity"


# -- item 6: the key never comes back out -----------------------------------------------------------


def test_a_reply_that_echoes_the_key_is_stored_without_it(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = echo_authorization()
    with client_from_settings(fake_llm, tmp_path) as client:
        result = client.generate_variants(CAPTION)

    assert fake_llm.chat_requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert result.ok and len(result.texts) == 3
    assert all("[redacted]" in text for text in result.texts), result.texts
    assert "[redacted]" in result.model
    for text in [*result.texts, result.model]:
        assert API_KEY not in text


def test_an_error_that_echoes_the_key_keeps_it_out(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.default = echo_authorization(status=400)
    with client_from_settings(fake_llm, tmp_path) as client:
        result = client.generate_variants(CAPTION)
    assert result.error_kind == "http_error" and "you sent Bearer [redacted]" in result.error
    assert API_KEY not in result.error


def test_a_password_in_the_base_url_is_redacted_where_it_is_echoed(fake_llm: FakeLLMServer):
    base_url = fake_llm.base_url.replace("://", "://alice:pw-8Hq2Lx@")
    fake_llm.default = echo_authorization()
    with VariantClient(base_url, API_KEY, "test-model") as client:
        assert "pw-8Hq2Lx" not in repr(client)
        result = client.generate_variants(CAPTION)

    sent = fake_llm.chat_requests[0].headers["authorization"]  # httpx2 turns user:password into Basic auth
    assert sent == "Basic " + base64.b64encode(b"alice:pw-8Hq2Lx").decode()
    assert result.ok and all("[redacted]" in text for text in result.texts)
    for text in [*result.texts, result.model]:
        assert "pw-8Hq2Lx" not in text and sent.split()[1] not in text

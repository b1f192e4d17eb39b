"""Fixtures for the variants tests: the fake chat server, a client factory and a clean environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_llm_server import TEST_API_KEY, FakeLLMServer, fake_llm  # noqa: F401  (fake_llm is a fixture)

from alttext.variants import VariantClient


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The openai client reads OPENAI_* itself, and httpx honours proxy variables: neither may steer a
    # test away from the server on 127.0.0.1.
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ADMIN_KEY",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "ALTTEXT_OPENAI_API_KEY",
        "ALTTEXT_OPENAI_BASE_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


class SleepRecorder:
    """Stands in for time.sleep where a test checks a wait without spending it."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(fake_llm: FakeLLMServer) -> Iterator[Callable[..., VariantClient]]:  # noqa: F811
    """A real VariantClient on the fake server, with fast backoff unless a test says otherwise."""
    clients: list[VariantClient] = []

    def make(**kwargs: Any) -> VariantClient:
        options: dict[str, Any] = {
            "base_url": fake_llm.base_url,
            "api_key": TEST_API_KEY,
            "model": "test-model",
            "timeout": 5.0,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
        }
        options.update(kwargs)
        client = VariantClient(options.pop("base_url"), options.pop("api_key"), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

"""Settings precedence (defaults < file < environment < flags), provenance, and secret handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alttext.cli import cli
from alttext.config import DEFAULT_MODEL, ConfigError, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, path=tmp_path / "none.toml")
    assert settings.model == DEFAULT_MODEL
    assert settings.sources["model"] == "default"
    assert settings.db.endswith("index.sqlite3")


def test_precedence_and_provenance(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model = "from-file"\nbatch_size = 4\nbeams = 2\n')
    settings = load_settings(environ={"ALTTEXT_BATCH_SIZE": "16"}, path=config)
    assert settings.model == "from-file" and settings.sources["model"] == f"config file {config}"
    assert settings.batch_size == 16 and settings.sources["batch_size"] == "environment ALTTEXT_BATCH_SIZE"
    flagged = settings.replace(beams=5, model=None)
    assert flagged.beams == 5 and flagged.sources["beams"] == "command line"
    assert flagged.model == "from-file"


def test_bad_values_are_reported_with_their_source(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("batch_size = 'many'\n")
    with pytest.raises(ConfigError, match="batch_size from config file"):
        load_settings(environ={}, path=config)
    config.write_text("model = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={}, path=config)


def test_unknown_settings_warn(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("modle = 'typo'\n")
    assert any("modle" in warning for warning in load_settings(environ={}, path=config).warnings)


def test_api_key_in_a_readable_file_warns(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('openai_api_key = "sk-secret-123"\n')
    config.chmod(0o644)
    assert any("chmod 600" in warning for warning in load_settings(environ={}, path=config).warnings)
    config.chmod(0o600)
    assert not load_settings(environ={}, path=config).warnings


def test_config_command_shows_sources_and_hides_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model = "my/model"\n')
    monkeypatch.setenv("ALTTEXT_CONFIG", str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    monkeypatch.setenv("ALTTEXT_BEAMS", "3")
    runner = CliRunner()
    result = runner.invoke(cli, ["config"])
    assert result.exit_code == 0, result.output
    assert "sk-very-secret-value" not in result.output
    assert "'my/model'" in result.output and f"config file {config}" in result.output
    assert "environment ALTTEXT_BEAMS" in result.output
    data = json.loads(runner.invoke(cli, ["config", "--json"]).output)
    assert data["settings"]["openai_api_key"] == {"value": "set (hidden)", "source": "environment OPENAI_API_KEY"}
    assert data["settings"]["beams"]["value"] == 3
    assert data["config_file"] == str(config)


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("http://user:secret@127.0.0.1:1/v1", "secret"),
        ("https://tok-9f8e7d6c5b@proxy.example/v1", "tok-9f8e7d6c5b"),
        ("https://llm.example/v1?api_key=qs-token-31337&region=eu", "qs-token-31337"),
    ],
    ids=["password", "token-as-user", "query-token"],
)
def test_config_command_hides_credentials_in_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str,
                                                  hidden: str) -> None:
    (tmp_path / "empty.toml").write_text("")  # a config file that sets nothing (a missing one is an error)
    monkeypatch.setenv("ALTTEXT_CONFIG", str(tmp_path / "empty.toml"))
    monkeypatch.setenv("ALTTEXT_OPENAI_BASE_URL", url)
    runner = CliRunner()
    plain = runner.invoke(cli, ["config"])
    as_json = runner.invoke(cli, ["config", "--json"])
    assert plain.exit_code == 0 and as_json.exit_code == 0, plain.output + as_json.output
    for result in (plain, as_json):
        assert hidden not in result.output
    shown = json.loads(as_json.output)["settings"]["openai_base_url"]
    assert "[redacted]" in shown["value"] and shown["source"] == "environment ALTTEXT_OPENAI_BASE_URL"
    assert shown["value"].split("[redacted]")[0] in url  # the rest of the address is still there to check


def test_variants_limits_have_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, path=tmp_path / "none.toml")
    assert (settings.variants_deadline, settings.variants_max_reply_bytes) == (60.0, 1024 * 1024)
    settings = load_settings(environ={"ALTTEXT_VARIANTS_DEADLINE": "2.5"}, path=tmp_path / "none.toml")
    assert settings.variants_deadline == 2.5


def test_decode_threads_sizes_the_decode_pools_of_scan_and_caption(tmp_path: Path, shapes_model: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures

    from PIL import Image

    import alttext.captioning.stream
    import alttext.index.ingest
    from alttext import Library

    pools: list[tuple[str, int | None]] = []

    class Recorded(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "", **kwargs: object) -> None:
            pools.append((thread_name_prefix, max_workers))
            super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)

    monkeypatch.setattr(alttext.index.ingest, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(alttext.captioning.stream, "ThreadPoolExecutor", Recorded)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 48), "red").save(folder / "red.png")
    with Library(tmp_path / "index.sqlite3", model=str(shapes_model), device="cpu", decode_threads=3) as library:
        assert library.scan([str(folder)], import_metadata=False).summary.captioned == 1
        assert [result.ok for result in library.caption([str(folder / "red.png")])] == [True]
    assert ("alttext-ingest", 3) in pools and ("alttext-decode", 3) in pools
    with pytest.raises(ConfigError, match="decode_threads"):
        load_settings(environ={"ALTTEXT_DECODE_THREADS": "0"}, path=tmp_path / "none.toml")

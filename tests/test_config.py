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

"""``alttext config``: the effective settings and where each came from."""

from __future__ import annotations

from typing import Any

import click

from alttext.cli.common import echo_json, settings_from
from alttext.library import Settings, config_path, redact


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def config(ctx: click.Context, as_json: bool) -> None:
    """Show the effective settings and their sources (secrets are never shown)."""
    settings = settings_from(ctx)
    rows = [(name, _shown(value, settings), source) for name, value, source in settings.public_items()]
    if as_json:
        echo_json(
            {
                "config_file": str(config_path()),
                "settings": {name: {"value": value, "source": source} for name, value, source in rows},
            }
        )
        return
    click.echo(f"config file: {config_path()}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value!r}  ({source})")


def _shown(value: Any, settings: Settings) -> Any:
    """A value as it may be printed: the key hidden (public_items did), and credentials in a URL too
    (``http://user:password@host``, ``?api_key=...``)."""
    return redact(value, [settings.openai_api_key, settings.caption_api_key]) if isinstance(value, str) else value

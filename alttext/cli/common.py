"""Helpers shared by the subcommands: settings from the context, JSON output, model construction."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from alttext.config import Settings


def settings_from(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))


def display_path(path: str) -> str:
    """Paths may hold bytes that are not UTF-8 (surrogate-escaped); show them without crashing."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def model_options(function: Any) -> Any:
    """The model flags shared by caption, scan and watch."""
    options = [
        click.option("--model", "model", metavar="ID|FOLDER", help="Hugging Face model id or local folder."),
        click.option("--beams", type=click.IntRange(min=1), help="Beam width (default: the model's)."),
        click.option("--max-tokens", "max_tokens", type=click.IntRange(min=1), help="Max new tokens."),
        click.option("--batch-size", "batch_size", type=click.IntRange(min=1), help="Images per model call."),
        click.option("--quantize", type=click.Choice(["none", "int8"]), help="int8: faster CPU inference."),
        click.option("--device", help="auto, cpu, cuda, cuda:N or mps."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_captioner(settings: Settings) -> Any:
    """Load the model named by the settings, or exit with the one-line reason."""
    from alttext.captioning import Captioner, ModelLoadError

    try:
        return Captioner(
            settings.model,
            device=settings.device,
            beams=settings.beams,
            max_new_tokens=settings.max_tokens,
            batch_size=settings.batch_size,
            quantize=settings.quantize,
            threads=settings.threads,
        )
    except ModelLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def open_index(settings: Settings) -> Any:
    """Open (and if needed create or upgrade) the index, or exit with the reason."""
    from alttext.index.db import Index, IndexUnavailable

    try:
        return Index(settings.db)
    except IndexUnavailable as exc:
        raise click.ClickException(str(exc)) from exc

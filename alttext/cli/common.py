"""Helpers shared by the subcommands: the library from the context, JSON output, common options and errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

import alttext.library as api
from alttext.library import QUANTIZE_CHOICES, Library, Settings, display_path

__all__ = ["display_path"]  # the commands import it from here, with the other helpers


def settings_from(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))


def model_options(function: Any) -> Any:
    """The model flags shared by caption, scan and watch."""
    options = [
        click.option("--model", "model", metavar="ID|FOLDER", help="Hugging Face model id or local folder."),
        click.option("--beams", type=click.IntRange(min=1), help="Beam width (default: the model's)."),
        click.option("--max-tokens", "max_tokens", type=click.IntRange(min=1), help="Max new tokens."),
        click.option("--batch-size", "batch_size", type=click.IntRange(min=1), help="Images per model call."),
        click.option("--quantize", type=click.Choice(QUANTIZE_CHOICES), help="int8: faster CPU inference."),
        click.option("--device", help="auto, cpu, cuda, cuda:N or mps."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def open_library(ctx: click.Context, *, index: bool = True, **overrides: Any) -> Library:
    """The library on the settings (plus command-line ``overrides``; None means "not given"). With
    ``index``, the index is opened now, so a bad ``--db`` is one clear error before any work."""
    library = Library(settings=settings_from(ctx), **overrides)
    if index:
        try:
            library.index  # noqa: B018  (opening is the point)
        except api.IndexUnavailable as exc:  # (looked up only now: it imports SQLAlchemy)
            raise click.ClickException(str(exc)) from exc
    return library


@contextmanager
def model_errors() -> Iterator[None]:
    """A model that can't be loaded: one line and exit 2; unusable model or write-back settings: a usage
    error (exit 2)."""
    try:
        yield
    except api.ModelLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except api.ModelSettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    except api.EmbedSettingsError as exc:
        raise click.BadParameter(str(exc)) from exc


def interrupted(what: str) -> NoReturn:
    """Ctrl-C: what was done is kept; say so and exit 130 (128 + SIGINT), like a shell."""
    click.echo(f"\ninterrupted: {what} so far are saved; run the same command to continue", err=True)
    sys.exit(130)

"""``alttext model fetch``: put a hub model into the local cache once, for machines that run offline."""

from __future__ import annotations

import sys

import click

import alttext.library as api
from alttext.cli.common import open_library


@click.group()
def model() -> None:
    """Captioning models: fetch one for offline use."""


@model.command()
@click.argument("name", required=False)
@click.pass_context
def fetch(ctx: click.Context, name: str | None) -> None:
    """Download model NAME (default: the configured model) from the Hugging Face hub into the local cache.

    From then on alttext loads it without the network. For a machine that is always offline, run this
    where there is network and copy the cache folder it prints (with its `hub/` parent, the HF_HOME)
    to the same place there, or save the model with save_pretrained and point --model at that folder.
    """
    library = open_library(ctx, index=False)
    chosen = name or library.settings.model
    click.echo(f"fetching {chosen} ...", err=True)
    try:
        where = library.fetch_model(chosen)
    except api.ModelLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{chosen}: in the local cache at {where}; it now loads offline")

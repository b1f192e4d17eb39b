"""``alttext caption``: caption files, folders and URLs without touching the index."""

from __future__ import annotations

import sys

import click
from PIL import Image

from alttext.cli.common import build_captioner, display_path, echo_json, model_options, settings_from
from alttext.fetch import fetch_image_bytes
from alttext.images import ImageError, open_image
from alttext.sources import Source, expand_sources


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="PATH_OR_URL...")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results.")
@click.pass_context
def caption(ctx: click.Context, inputs: tuple[str, ...], as_json: bool, **model_flags: object) -> None:
    """Caption image files, folders (recursively) and http(s) URLs.

    Prints one "path<TAB>alt text" line per image (errors go to stderr), or with --json a list of
    objects with path, alt_text, raw_caption, model and error. Exits 1 if any item failed.
    """
    settings = settings_from(ctx).replace(**model_flags)  # type: ignore[arg-type]
    captioner = build_captioner(settings)
    draft = _draft_size(captioner)

    def load(source: Source) -> Image.Image:
        if source.error:
            raise ImageError(source.error)
        if source.is_url:
            body = fetch_image_bytes(
                source.location, timeout=settings.url_timeout, max_bytes=settings.url_max_bytes
            )
            return open_image(body, max_pixels=settings.max_image_pixels, draft_size=draft)
        return open_image(source.location, max_pixels=settings.max_image_pixels, draft_size=draft)

    results = []
    failed = 0
    for outcome in captioner.caption_stream(expand_sources(inputs), load):
        path = outcome.item.location if outcome.item.is_url else display_path(outcome.item.location)
        if not outcome.ok:
            failed += 1
        if as_json:
            results.append(
                {
                    "path": path,
                    "alt_text": outcome.alt_text,
                    "raw_caption": outcome.raw_caption,
                    "model": captioner.model_id,
                    "error": outcome.error,
                }
            )
        elif outcome.ok:
            click.echo(f"{path}\t{outcome.alt_text}")
        else:
            click.echo(f"{path}: error: {outcome.error}", err=True)
    if as_json:
        echo_json(results)
    if failed:
        sys.exit(1)


def _draft_size(captioner: object) -> int | None:
    """Let JPEG decoding shrink big photos to twice the model's input side (never below it)."""
    processor = getattr(getattr(captioner, "loaded", None), "image_processor", None)
    size = getattr(processor, "size", None) or {}
    side = max((value for key, value in dict(size).items() if isinstance(value, int)), default=0)
    return side * 2 if side else None

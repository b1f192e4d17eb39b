"""``alttext embed``: write indexed alt text into the photos' own metadata (or XMP sidecars)."""

from __future__ import annotations

import sys
from typing import Any

import click

from alttext.cli.common import display_path, echo_json, open_index, settings_from

FIELD_NAMES = ("alt", "description", "exif", "iptc")


def parse_fields(value: str) -> frozenset[str]:
    fields = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = fields - set(FIELD_NAMES)
    if unknown or not fields:
        raise click.BadParameter(f"choose from {','.join(FIELD_NAMES)} (comma-separated)")
    return fields


def embed_options(function: Any) -> Any:
    """The write-back flags shared by embed, scan --embed and watch --embed."""
    options = [
        click.option("--fields", default=None, metavar="LIST",
                     help="Comma list of alt,description,exif,iptc (default: alt, or the embed_fields setting)."),
        click.option("--lang", default=None, help="Language of the alt text (default: the lang setting)."),
        click.option("--sidecar", "force_sidecar", is_flag=True, help="Always write an XMP sidecar."),
        click.option("--sidecar-name", type=click.Choice(["ext.xmp", "xmp"]), default=None,
                     help="IMG.jpg.xmp (ext.xmp, default) or IMG.xmp."),
        click.option("--force", is_flag=True,
                     help="Replace existing values (a person's text only with a human-approved caption)."),
        click.option("--backup", is_flag=True, help="Keep the original as NAME_original, like exiftool."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_options(settings: Any, *, fields: str | None, lang: str | None, force_sidecar: bool,
                  sidecar_name: str | None, force: bool, backup: bool, dry_run: bool = False) -> Any:
    from alttext.index.writeback import EmbedOptions

    return EmbedOptions(
        lang=lang or settings.lang,
        fields=parse_fields(fields or settings.embed_fields),
        force=force,
        sidecar=True if force_sidecar else None,
        sidecar_name=sidecar_name or settings.sidecar_name,
        backup=backup,
        dry_run=dry_run,
    )


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@embed_options
@click.option("--dry-run", is_flag=True, help="Say what would be written; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of per-file results.")
@click.pass_context
def embed(ctx: click.Context, paths: tuple[str, ...], dry_run: bool, as_json: bool, **flags: Any) -> None:
    """Write alt text into the photos' metadata (IPTC Alt Text in XMP by default).

    With no PATH: every indexed file whose alt text is not embedded yet. JPEG, PNG, WebP and TIFF are
    written in place without touching pixels; HEIC/AVIF through exiftool; RAW files and read-only files
    get an XMP sidecar. Every write is verified on a temporary copy before it replaces the original.
    Exits 1 if any file failed.
    """
    from alttext.index.writeback import embed_targets, select_targets

    settings = settings_from(ctx)
    options = build_options(settings, dry_run=dry_run, **flags)
    index = open_index(settings)
    targets, unknown = select_targets(index, list(paths) or None)
    failed = len(unknown)
    results: list[dict[str, Any]] = []
    for path in unknown:
        message = "not in the index (run: alttext scan FOLDER)"
        if as_json:
            results.append({"path": display_path(path), "status": "failed", "error": message})
        else:
            click.echo(f"{display_path(path)}: error: {message}", err=True)
    for target, result in embed_targets(index, targets, options):
        if not result.ok:
            failed += 1
        if as_json:
            entry = result.to_dict()
            entry["path"] = display_path(target.path)
            entry["alt_text"] = target.text
            results.append(entry)
        elif result.ok:
            where = f" -> {display_path(result.target)}" if str(result.where) == "sidecar" else ""
            skipped = "; ".join(f"{field}: {reason}" for field, reason in result.skipped.items())
            click.echo(f"{result.status}: {display_path(target.path)}{where}" + (f" ({skipped})" if skipped else ""))
        else:
            click.echo(f"{display_path(target.path)}: error: {result.error}", err=True)
    if as_json:
        echo_json(results)
    elif not targets and not unknown:
        click.echo("nothing to embed", err=True)
    if failed:
        sys.exit(1)

"""``alttext show``: everything the index knows about one file."""

from __future__ import annotations

import sys

import click

from alttext.cli.common import echo_json, escape_line, open_library


@click.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="JSON object (see README for the fields).")
@click.pass_context
def show(ctx: click.Context, path: str, as_json: bool) -> None:
    """Show alt text, raw caption, provenance, other copies, variants and errors for PATH."""
    info = open_library(ctx).show(path)
    if info is None:
        click.echo(f"error: {escape_line(path)} is not in the index (run: alttext scan FOLDER)", err=True)
        sys.exit(1)
    if as_json:
        echo_json(info)  # raw paths: a name that isn't UTF-8 keeps its bytes in path_bytes_b64
        return
    lines = [
        ("path", info["path"]),
        ("state", info["state"]),
        ("alt text", info["alt_text"]),
        ("raw caption", info["raw_caption"]),
        ("description", info["description"]),
        ("image text", info["image_text"]),
        ("source", info["source"]),
        ("status", info["status"]),
        ("model", info["model"]),
        ("captioned", info["captioned_at"]),
        ("error", info["error"]),
    ]
    if info["embedded"]:
        lines.append(("embedded", f"{info['embedded']['where']} at {info['embedded']['at']}"))
    for label, value in lines:
        if value is not None:
            click.echo(f"{label:>12}: {escape_line(str(value))}")  # a caption may hold escapes
    for other in info["other_paths"]:
        click.echo(f"{'same image':>12}: {escape_line(other)}")
    for variant in info["variants"]:
        click.echo(f"{'variant':>12}: [{escape_line(variant['style'])}] {escape_line(variant['text'])}")
    if len(info["captions"]) > 1:
        click.echo(f"{'history':>12}: {len(info['captions'])} captions (see --json)")

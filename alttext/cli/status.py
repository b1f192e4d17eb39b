"""``alttext status``: how much of the library is indexed, pending, failed or missing, and how much alt
text is still to be written into the files."""

from __future__ import annotations

import click

from alttext.cli.common import display_path, echo_json, open_library


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="JSON object: files, images, captioned, pending, ..., embed_waiting, embed_held, workers, claimed.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Counts by state, alt text waiting to be written into files, watched folders, models used and the
    index's size."""
    info = open_library(ctx).status()
    for root in info["roots"]:
        root["path"] = display_path(root["path"])
    if as_json:
        echo_json(info)
        return
    click.echo(f"index:     {info['index_path']} ({info['index_bytes'] / 1e6:.1f} MB)")
    click.echo(f"files:     {info['files']} indexed, {info['pending']} pending, {info['failed']} failed,"
               f" {info['missing']} missing")
    click.echo(f"images:    {info['images']} distinct, {info['captioned']} captioned")
    held = info["embed_held"]
    click.echo(f"embed:     {info['embed_waiting']} waiting to be written into files"
               + (f", {held} held back after a failure or a skip (alttext embed tries them again)" if held else ""))
    for model, count in info["models"].items():
        click.echo(f"model:     {model} ({count} captions)")
    for root in info["roots"]:
        click.echo(f"folder:    {root['path']} (last scan {root['last_scan_at'] or 'never'})")
    if info["workers"] or info["claimed"]:
        click.echo(f"queue:     {info['pending']} pending, {info['claimed']} of them claimed by workers")
    for row in info["workers"]:
        click.echo(f"worker:    {row['id']} {row['state']} on {row['host']} (pid {row['pid']}), {row['model']},"
                   f" {row['images_done']} images at {row['rate_per_minute']}/min,"
                   + (f" {row['vectors_done']} vectors," if "vectors" in row["kinds"] else "")
                   + (f" {row['variants_done']} variants jobs," if "variants" in row["kinds"] else "")
                   + f" holding {row['holding']}, last seen {row['last_seen'][:19]}")

"""``alttext embed``: write indexed alt text into the photos' own metadata (or XMP sidecars)."""

from __future__ import annotations

import sys
from typing import Any

import click

from alttext.cli.common import echo_json, escape_line, model_errors, on_interrupt, open_library
from alttext.cli.progress import Bar, progress_bar
from alttext.library import EmbedRun


def embed_options(function: Any) -> Any:
    """The write-back flags of `alttext embed` (scan --embed and watch --embed use the settings)."""
    options = [
        click.option("--fields", default=None, metavar="LIST",
                     help="Comma list of alt,description,exif,iptc,extdescr (default: alt,extdescr, or the "
                          "embed_fields setting; extdescr: the long description, where there is one)."),
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
    library = open_library(ctx)
    with model_errors():  # a bad --fields value
        run = library.embed(paths, fields=flags["fields"], lang=flags["lang"], sidecar=flags["force_sidecar"],
                            sidecar_name=flags["sidecar_name"], force=flags["force"], backup=flags["backup"],
                            dry_run=dry_run)
    unknown = run.unknown
    failed = len(unknown)
    results: list[dict[str, Any]] = []
    seen = [0]  # files done so far, for the Ctrl-C line
    on_interrupt(ctx, lambda: "nothing was written (--dry-run)" if dry_run else
                 f"the {seen[0]} file(s) already done are kept (each write is all or nothing); "
                 "run it again to continue")
    for path in unknown:
        message = "not in the index (run: alttext scan FOLDER)"
        if as_json:
            results.append({"path": path, "status": "failed", "error": message})
        else:
            click.echo(f"{escape_line(path)}: error: {message}", err=True)
    with progress_bar("embed", run.total, enabled=run.total > 1) as bar:
        failed += _report(run, bar, dry_run=dry_run, as_json=as_json, results=results, seen=seen)
    if as_json:
        echo_json(results)
    elif not run.total and not unknown:
        click.echo("nothing to embed", err=True)
    if failed:
        sys.exit(1)


def _report(run: EmbedRun, bar: Bar, *, dry_run: bool, as_json: bool, results: list[dict[str, Any]],
            seen: list[int]) -> int:
    """Each file's outcome as it is written (lines through the bar, JSON into ``results``, a count in
    ``seen[0]``); how many failed."""
    failed = 0
    for target, result in run.results:
        bar.advance()
        seen[0] += 1
        if not result.ok:
            failed += 1
        if as_json:
            entry = result.to_dict()
            entry["path"] = target.path  # raw: echo_json keeps a non-UTF-8 name's bytes
            entry["alt_text"] = target.text
            entry["description"] = target.description
            results.append(entry)
        elif dry_run and result.ok:
            _show_plan(bar, target.path, target.text, result, description=target.description)
        elif result.ok:
            where = f" -> {escape_line(result.target)}" if result.target and str(result.where) == "sidecar" else ""
            skipped = "; ".join(f"{field}: {reason}" for field, reason in result.skipped.items())
            bar.echo(f"{result.status}: {escape_line(target.path)}{where}"
                     + (f" ({escape_line(skipped)})" if skipped else ""))
        else:
            bar.echo(f"{escape_line(target.path)}: error: {escape_line(str(result.error))}", err=True)
    return failed


_PLACES = {"file": "in the file", "sidecar": "XMP sidecar", "exiftool": "in the file, through exiftool"}


def _show_plan(bar: Bar, path: str, text: str, result: Any, *, description: str | None = None) -> None:
    """``--dry-run``: where each field would be written, what it holds now and what it would hold."""
    target = result.target or path
    place = _PLACES.get(str(result.where), str(result.where))
    bar.echo(f"{result.status}: {escape_line(path)}" + (f" -> {escape_line(target)}" if target != path else "")
               + f" ({place})")
    for outcome in result.fields:
        if outcome.action == "write":
            old = repr(outcome.previous) if outcome.previous is not None else "(empty)"
            new = description if outcome.field == "extdescr" else text  # the long description's own text
            bar.echo(f"    {outcome.label}: {escape_line(old)} -> {escape_line(repr(new))}"
                       f"  [{escape_line(outcome.reason)}]")
        else:
            bar.echo(f"    {outcome.label}: not written ({escape_line(outcome.reason)})")

"""``alttext apply-html``: write the index's alt text into a static site's <img> tags."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click

import alttext.library as api
from alttext.cli.common import echo_json, escape_line, open_library


@click.command("apply-html")
@click.argument("site_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--site-root", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="Folder that links starting with '/' point into (default: SITE_DIR).")
@click.option("--fill-empty", is_flag=True,
              help="Also fill alt=\"\" (by default kept: an empty alt marks a decorative picture).")
@click.option("--only-missing", is_flag=True, hidden=True, help="The default now: only <img> without an alt.")
@click.option("--replace", is_flag=True, help="Also replace alt text that lint flags as an error (IMG_1234, 'image').")
@click.option("--reviewed-only", is_flag=True, help="Only use alt text a person edited or approved.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of every page that changes.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes and counts as JSON.")
@click.pass_context
def apply_html(ctx: click.Context, site_dir: str, site_root: str | None, fill_empty: bool, only_missing: bool,
               replace: bool, reviewed_only: bool, dry_run: bool, show_diff: bool, as_json: bool) -> None:
    """Fill missing alt attributes of <img> elements in SITE_DIR's HTML pages.

    An image is found by its src (or srcset, data-src) relative to the page, or to --site-root for links
    starting with '/'; when that file isn't indexed, by its pixels among everything indexed. Only the alt
    attribute changes, every other byte of a page stays as it was, and pages are replaced atomically.
    An empty alt="" is left alone (in HTML it marks a decorative picture on purpose) and counted; with
    --fill-empty those are filled too, except where role="presentation" or aria-hidden="true" says it
    again. Nothing outside SITE_DIR and --site-root is read or written: a link leading out finds no caption, and a
    symlinked page stays a symlink (its target is filled only when inside SITE_DIR).
    """
    if only_missing and (fill_empty or replace):
        other = "--fill-empty" if fill_empty else "--replace"
        raise click.UsageError(f"--only-missing and {other} contradict each other")
    pages = open_library(ctx).apply_html(site_dir, site_root=site_root, fill_empty=fill_empty, replace=replace,
                                         reviewed_only=reviewed_only, dry_run=dry_run)
    totals = api.SiteTotals()
    report: list[dict[str, object]] = []
    for page in pages:
        totals.add(page)
        label, result = escape_line(page.label), page.result
        for note in page.notes:
            click.echo(f"{label}: note: {escape_line(note)}", err=True)
        if page.skipped is not None:
            click.echo(f"{label}: skipped: {escape_line(page.skipped)}", err=True)
            continue
        if result is None or not result.changed:
            if page.error is not None:
                click.echo(f"{label}: error: {escape_line(page.error)}", err=True)
            continue
        report.append({"page": page.label, "changes": [
            {"line": change.line, "src": change.link, "action": change.action, "old_alt": change.old_alt,
             "alt": change.new_alt, "matched_by": change.matched_by} for change in result.changes]})
        if show_diff:
            click.echo(result.diff(label), nl=False)
        elif not as_json:
            for change in result.changes:
                click.echo(f"{label}:{change.line}: {escape_line(change.link)}: {change.action}"
                           f" alt={change.new_alt!r}")  # repr escapes control characters
        if page.error is not None:
            click.echo(f"{label}: error: {escape_line(page.error)}", err=True)
    if as_json:
        echo_json({"dry_run": dry_run, "totals": asdict(totals), "pages": report})
    else:
        verb = "would change" if dry_run else "changed"
        click.echo(
            f"{totals.pages} pages, {verb} {totals.pages_changed}: filled {totals.filled},"
            f" replaced {totals.replaced}; kept {totals.kept}, decorative {totals.decorative},"
            f" empty alt kept {totals.empty}{' (--fill-empty fills them)' if totals.empty else ''},"
            f" no caption {totals.uncaptioned}, not found {totals.unresolved}, outside the site {totals.outside}",
            err=True,
        )
    if totals.errors:
        sys.exit(1)

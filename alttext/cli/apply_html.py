"""``alttext apply-html``: write the index's alt text into a static site's <img> tags."""

from __future__ import annotations

import os
import sys

import click

from alttext.cli.common import display_path, echo_json, open_index, settings_from


@click.command("apply-html")
@click.argument("site_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--site-root", metavar="DIR", type=click.Path(exists=True, file_okay=False),
              help="Folder that links starting with '/' point into (default: SITE_DIR).")
@click.option("--only-missing", is_flag=True, help="Only <img> without any alt attribute; keep alt=\"\" as it is.")
@click.option("--replace", is_flag=True, help="Also replace alt text that lint flags as an error (IMG_1234, 'image').")
@click.option("--reviewed-only", is_flag=True, help="Only use alt text a person edited or approved.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of every page that changes.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes and counts as JSON.")
@click.pass_context
def apply_html(ctx: click.Context, site_dir: str, site_root: str | None, only_missing: bool, replace: bool,
               reviewed_only: bool, dry_run: bool, show_diff: bool, as_json: bool) -> None:
    """Fill missing or empty alt attributes of <img> elements in SITE_DIR's HTML pages.

    An image is found by its src (or srcset, data-src) relative to the page, or to --site-root for links
    starting with '/'; when that file isn't indexed, by its pixels among everything indexed. Only the alt
    attribute changes, every other byte of a page stays as it was, and pages are replaced atomically.
    Decorative images (alt="" with role="presentation" or aria-hidden="true") are left alone.
    """
    from alttext.atomic_write import write_atomically
    from alttext.web.html_alt import fill_page, iter_pages
    from alttext.web.site_images import CaptionLookup

    if only_missing and replace:
        raise click.UsageError("--only-missing and --replace contradict each other")
    settings = settings_from(ctx)
    index = open_index(settings)
    root = os.path.abspath(site_root or site_dir)
    lookup = CaptionLookup(index, max_pixels=settings.max_image_pixels)
    totals = {"pages": 0, "pages_changed": 0, "images": 0, "filled": 0, "replaced": 0, "decorative": 0,
              "kept": 0, "unresolved": 0, "uncaptioned": 0, "errors": 0}
    report: list[dict[str, object]] = []
    for page in iter_pages(site_dir):
        label = os.path.relpath(page, site_dir)
        totals["pages"] += 1
        try:
            before = os.stat(page)
            with open(page, "rb") as stream:
                data = stream.read()
        except OSError as exc:
            click.echo(f"{display_path(label)}: error: {exc.strerror or exc}", err=True)
            totals["errors"] += 1
            continue
        result = fill_page(data, page, root, lookup, only_missing=only_missing, replace=replace,
                           reviewed_only=reviewed_only)
        if result.error:
            click.echo(f"{display_path(label)}: skipped: {result.error}", err=True)
            totals["errors"] += 1
            continue
        for key in ("images", "decorative", "kept", "unresolved", "uncaptioned"):
            totals[key] += getattr(result, key)
        totals["filled"] += sum(change.action == "fill" for change in result.changes)
        totals["replaced"] += sum(change.action == "replace" for change in result.changes)
        if not result.changed:
            continue
        totals["pages_changed"] += 1
        report.append({"page": display_path(label), "changes": [
            {"line": change.line, "src": change.link, "action": change.action, "old_alt": change.old_alt,
             "alt": change.new_alt, "matched_by": change.matched_by} for change in result.changes]})
        if show_diff:
            click.echo(result.diff(display_path(label)), nl=False)
        elif not as_json:
            for change in result.changes:
                click.echo(f"{display_path(label)}:{change.line}: {change.link}: {change.action}"
                           f" alt={change.new_alt!r}")
        if dry_run:
            continue
        try:
            after = os.stat(page)
            if (after.st_mtime_ns, after.st_size, after.st_ino) != (before.st_mtime_ns, before.st_size, before.st_ino):
                raise OSError(0, "the page changed while it was processed; run again")
            write_atomically(page, [result.updated])
        except OSError as exc:
            click.echo(f"{display_path(label)}: error: {exc.strerror or exc}", err=True)
            totals["errors"] += 1
    if as_json:
        echo_json({"dry_run": dry_run, "totals": totals, "pages": report})
    else:
        verb = "would change" if dry_run else "changed"
        click.echo(
            f"{totals['pages']} pages, {verb} {totals['pages_changed']}: filled {totals['filled']},"
            f" replaced {totals['replaced']}; kept {totals['kept']}, decorative {totals['decorative']},"
            f" no caption {totals['uncaptioned']}, not found {totals['unresolved']}",
            err=True,
        )
    if totals["errors"]:
        sys.exit(1)

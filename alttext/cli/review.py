"""``alttext edit``, ``alttext approve`` and ``alttext review``: people correcting and signing off alt text."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from alttext.cli.common import display_path, open_index, settings_from

if TYPE_CHECKING:
    from alttext.index.db import Index
    from alttext.index.review import Change, ReviewItem

logger = logging.getLogger(__name__)


def _refresh_embeddings(index: Index, caption_ids: list[int], *, missing_only: bool = False) -> None:
    """Keep semantic search in step with an edit (a new caption) or an approval (a caption that may never
    have been embedded). A failure here must not lose the change, which is already committed: the next
    `alttext scan` embeds whatever is missing."""
    from alttext.search.encoder import semantic_available

    if not caption_ids or not semantic_available():
        return
    try:
        from alttext.search.vectors import compute_vectors

        compute_vectors(index, caption_ids, missing_only=missing_only)
    except Exception as exc:
        logger.warning("could not embed the new alt text for semantic search (%s); alttext scan will retry", exc)


def _show_problems(alt_text: str, name: str) -> None:
    from alttext.lint import lint_alt

    for problem in lint_alt(alt_text, file_name=name):
        click.echo(f"  {problem.level}: {problem.message}", err=True)


def _also(count: int) -> str:
    return f" (and {count} other file{'s' if count != 1 else ''} with the same picture)" if count else ""


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.argument("alt_text")
@click.pass_context
def edit(ctx: click.Context, path: str, alt_text: str) -> None:
    """Set PATH's alt text to ALT_TEXT, written by a person: no model run will replace it.

    Every earlier caption is kept in the history (alttext show PATH). For text that starts with a
    dash, put -- before the arguments: alttext edit -- PATH "-5 degrees on the thermometer".
    """
    import os

    from alttext.index.review import ReviewError
    from alttext.index.review import edit as run_edit

    index = open_index(settings_from(ctx))
    try:
        change = run_edit(index, path, alt_text)
    except ReviewError as exc:
        raise click.ClickException(str(exc)) from exc
    _refresh_embeddings(index, [change.caption_id])
    click.echo(f"{display_path(path)}: alt text edited{_also(change.other_files)}")
    _show_problems(alt_text, os.path.basename(path))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def approve(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Approve the current alt text of each PATH: no model run will replace it. Exits 1 if any PATH
    could not be approved."""
    from alttext.index.review import ReviewError
    from alttext.index.review import approve as run_approve

    index = open_index(settings_from(ctx))
    failed = 0
    approved: list[int] = []
    for path in paths:
        try:
            change = run_approve(index, path)
        except ReviewError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        approved.append(change.caption_id)
        already = " (already approved)" if change.previous_status == "approved" else ""
        click.echo(f"{display_path(path)}: approved{already}{_also(change.other_files)}")
    _refresh_embeddings(index, approved, missing_only=True)
    if failed:
        sys.exit(1)


KEYS = {"a": "accept", "e": "edit", "s": "skip", "u": "undo", "q": "quit"}


@click.command()
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.pass_context
def review(ctx: click.Context, under: str | None) -> None:
    """Go through alt text nobody has reviewed yet, one picture at a time.

    For each: [a]ccept (approve it), [e]dit (type a better one), [s]kip, [u]ndo the last accept or
    edit, [q]uit. Every answer is saved at once; quitting loses nothing.
    """
    from alttext.index.review import ReviewError, is_unreviewed, review_queue
    from alttext.index.review import approve as run_approve
    from alttext.index.review import edit as run_edit
    from alttext.index.review import undo as run_undo
    from alttext.lint import lint_alt

    index = open_index(settings_from(ctx))
    queue = review_queue(index, under=under)
    history: list[tuple[ReviewItem, Change | None]] = []  # (item, change or None for a skip)
    pending_again: list[ReviewItem] = []  # items brought back by undo
    counts = {"accepted": 0, "edited": 0, "skipped": 0}
    while True:
        item: ReviewItem | None
        if pending_again:
            item = pending_again.pop()
        else:
            item = next(queue, None)
            while item is not None and not is_unreviewed(index, item):  # reviewed by someone meanwhile
                item = next(queue, None)
        if item is None:
            click.echo("nothing left to review")
            break
        click.echo("")
        click.echo(click.style(display_path(item.path), bold=True))
        click.echo(f"  alt: {item.alt_text}")
        click.echo(f"  from: {item.source}{' ' + item.model if item.model else ''}")
        for problem in lint_alt(item.alt_text, file_name=item.name):
            click.echo(f"  {problem.level}: {problem.message}")
        try:
            answer = click.prompt("[a]ccept [e]dit [s]kip [u]ndo [q]uit", default="a",
                                  type=click.Choice(list(KEYS), case_sensitive=False), show_choices=False).lower()
        except click.Abort:  # end of input or Ctrl-C: every answer so far is saved, so this is a quit
            click.echo("")
            break
        try:
            if answer == "q":
                break
            if answer == "a":
                change = run_approve(index, item.path)
                _refresh_embeddings(index, [change.caption_id], missing_only=True)
                history.append((item, change))
                counts["accepted"] += 1
            elif answer == "e":
                try:
                    new_text = click.prompt("  new alt text", default=item.alt_text).strip()
                except click.Abort:
                    click.echo("")
                    break
                if not new_text or new_text == item.alt_text:
                    click.echo("  unchanged")
                    pending_again.append(item)
                    continue
                change = run_edit(index, item.path, new_text)
                _refresh_embeddings(index, [change.caption_id])
                history.append((item, change))
                counts["edited"] += 1
                for problem in lint_alt(new_text, file_name=item.name):
                    click.echo(f"  {problem.level}: {problem.message}")
            elif answer == "s":
                history.append((item, None))
                counts["skipped"] += 1
            elif answer == "u":
                pending_again.append(item)  # the current one comes back after the undone one
                if not history:
                    click.echo("  nothing to undo")
                    continue
                previous, change = history.pop()
                if change is not None:
                    run_undo(index, change)
                    counts["accepted" if change.kind == "approve" else "edited"] -= 1
                else:
                    counts["skipped"] -= 1
                pending_again.append(previous)
                click.echo(f"  undone: {display_path(previous.path)}")
        except ReviewError as exc:
            click.echo(f"  error: {exc}", err=True)
    click.echo(f"accepted {counts['accepted']}, edited {counts['edited']}, skipped {counts['skipped']}")

"""``alttext edit``, ``alttext approve`` and ``alttext review``: people correcting and signing off alt text."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING
from urllib.parse import quote

import click

import alttext.library as api
from alttext.cli.common import escape_line, on_interrupt, open_library
from alttext.cli.picture import inline_image, inline_protocol, open_in_viewer

if TYPE_CHECKING:
    from alttext.library import Change, Library, ReviewItem


def _show_problems(library: Library, alt_text: str, name: str) -> None:
    for problem in library.check_alt_text(alt_text, name):
        click.echo(f"  {problem.level}: {escape_line(problem.message)}", err=True)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.argument("alt_text")
@click.pass_context
def edit(ctx: click.Context, path: str, alt_text: str) -> None:
    """Set PATH's alt text to ALT_TEXT, written by a person: no model run will replace it.

    Every earlier caption is kept in the history (alttext show PATH). For text that starts with a
    dash, put -- before the arguments: alttext edit -- PATH "-5 degrees on the thermometer". Alt text is
    one line: control characters and terminal escape sequences are removed (with a note).
    """
    library = open_library(ctx)
    try:
        change = library.edit(path, alt_text)
    except api.ReviewError as exc:
        raise click.ClickException(escape_line(str(exc))) from exc
    click.echo(f"{escape_line(path)}: alt text edited{api.same_picture_note(change.other_files)}")
    if api.has_controls(alt_text):
        click.echo("  note: control characters and escape sequences were removed from the alt text", err=True)
    _show_problems(library, alt_text, os.path.basename(path))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def approve(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Approve the current alt text of each PATH: no model run will replace it. Exits 1 if any PATH
    could not be approved."""
    library = open_library(ctx)
    failed = 0
    for path in paths:
        try:
            change = library.approve(path)
        except api.ReviewError as exc:
            click.echo(f"error: {escape_line(str(exc))}", err=True)
            failed += 1
            continue
        already = " (already approved)" if change.previous_status == "approved" else ""
        click.echo(f"{escape_line(path)}: approved{already}{api.same_picture_note(change.other_files)}")
    if failed:
        sys.exit(1)


DECISIONS = ("a", "e", "s", "u", "q")  # the keys that answer for a picture; the others show it, or the help
PROMPT = "[a]ccept [e]dit [s]kip [u]ndo [v]iew [p]icture [q]uit [?]"
HELP = ("  a: approve this alt text   e: type a better one   s: skip   u: undo the last answer   q: quit\n"
        "  v: open the photo in the system viewer   p: draw it here (kitty, iTerm2, WezTerm)\n"
        "  Enter alone does nothing: approving takes the a key")
BROWSER_HINT = "the browser app shows each picture beside its text: run `alttext serve`, then open {url}"


@click.command()
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.pass_context
def review(ctx: click.Context, under: str | None) -> None:
    """Go through alt text nobody has reviewed yet, one picture at a time.

    For each: [a]ccept (approve it), [e]dit (type a better one), [s]kip, [u]ndo the last accept or
    edit, [v]iew the photo in the system viewer, [p]icture drawn in the terminal (kitty, iTerm2,
    WezTerm), [q]uit, [?] help. Enter alone approves nothing: it shows the keys. Every answer is saved
    at once; quitting loses nothing. To see the pictures beside their text, use the browser app
    (alttext serve, then /review).
    """
    library = open_library(ctx)
    queue = library.review_queue(under=under)
    hint = BROWSER_HINT.format(url="http://127.0.0.1:8765/review"
                               + (f"?under={quote(os.path.abspath(under))}" if under else ""))
    on_interrupt(ctx, lambda: "every answer given is saved; run alttext review to go on")
    history: list[tuple[ReviewItem, Change | None]] = []  # (item, change or None for a skip)
    pending_again: list[ReviewItem] = []  # items brought back by undo
    counts = {"accepted": 0, "edited": 0, "skipped": 0}
    while True:
        item: ReviewItem | None
        if pending_again:
            item = pending_again.pop()
        else:
            item = next(queue, None)
            while item is not None and not library.still_unreviewed(item):  # reviewed by someone meanwhile
                item = next(queue, None)
        if item is None:
            click.echo("nothing left to review")
            break
        if hint:  # once, with the first picture
            click.echo(escape_line(hint))
            hint = ""
        click.echo("")
        click.echo(click.style(escape_line(item.path), bold=True))
        click.echo(f"  alt: {escape_line(item.alt_text)}")
        click.echo(f"  from: {item.source}{' ' + escape_line(item.model) if item.model else ''}")
        for problem in library.check_alt_text(item.alt_text, item.name):
            click.echo(f"  {problem.level}: {escape_line(problem.message)}")
        answer = _answer(library, item)
        if answer is None:  # end of input or Ctrl-C: every answer so far is saved, so this is a quit
            click.echo("")
            break
        try:
            if answer == "q":
                break
            if answer == "a":
                change = library.approve(item.path)
                history.append((item, change))
                counts["accepted"] += 1
            elif answer == "e":
                try:
                    # the prompt shows its default raw: only when there is nothing a terminal would execute
                    new_text = click.prompt("  new alt text", default=item.alt_text,
                                            show_default=not api.has_controls(item.alt_text)).strip()
                except click.Abort as exc:
                    _reraise_ctrl_c(exc)
                    click.echo("")
                    break
                if not new_text or new_text == item.alt_text:
                    click.echo("  unchanged")
                    pending_again.append(item)
                    continue
                change = library.edit(item.path, new_text)
                history.append((item, change))
                counts["edited"] += 1
                for problem in library.check_alt_text(new_text, item.name):
                    click.echo(f"  {problem.level}: {escape_line(problem.message)}")
            elif answer == "s":
                history.append((item, None))
                counts["skipped"] += 1
            elif answer == "u":
                pending_again.append(item)  # the current one comes back after the undone one
                if not history:
                    click.echo("  nothing to undo")
                    continue
                previous, undone = history.pop()
                if undone is not None:
                    library.undo(undone)
                    counts["accepted" if undone.kind == "approve" else "edited"] -= 1
                else:
                    counts["skipped"] -= 1
                pending_again.append(previous)
                click.echo(f"  undone: {escape_line(previous.path)}")
        except api.ReviewError as exc:
            click.echo(f"  error: {escape_line(str(exc))}", err=True)
    click.echo(f"accepted {counts['accepted']}, edited {counts['edited']}, skipped {counts['skipped']}")


def _answer(library: Library, item: ReviewItem) -> str | None:
    """The next key that decides about ``item`` (a, e, s, u or q), or None at end of input. Showing the
    picture and help are answered here; Enter alone is never taken as a yes."""
    while True:
        try:
            answer = click.prompt(PROMPT, default="", show_default=False).strip().lower()
        except click.Abort as exc:
            _reraise_ctrl_c(exc)
            return None
        if answer in DECISIONS:
            return answer
        if answer == "v":
            problem = open_in_viewer(item.path)
            click.echo(f"  {escape_line(problem)}" if problem else "  opened in the system viewer")
        elif answer == "p":
            _draw_inline(library, item)
        elif answer in ("", "?", "h", "help"):
            click.echo(HELP)
        else:
            click.echo(f"  unknown key {escape_line(answer)!r}; ? shows the keys")


def _reraise_ctrl_c(abort: click.Abort) -> None:
    """click's prompt turns Ctrl-C and end of input alike into Abort: end of input is a quit, Ctrl-C is
    Ctrl-C (exit 130, the same in every command; every answer is saved already)."""
    if isinstance(abort.__context__, KeyboardInterrupt):
        raise KeyboardInterrupt from None


def _draw_inline(library: Library, item: ReviewItem) -> None:
    """A thumbnail in the terminal where it announces an image protocol; one line saying why not elsewhere."""
    protocol = inline_protocol()
    if protocol is None:
        click.echo("  this terminal draws no images (kitty, iTerm2 and WezTerm do): v opens the system viewer")
        return
    file_id = library.file_id_of(item.path)
    try:
        if file_id is None:
            raise api.PhotoUnavailable(f"{item.path}: not in the index any more")
        jpeg = library.thumbnail(file_id, size=320)
    except api.PhotoUnavailable as exc:
        click.echo(f"  cannot show the picture: {escape_line(str(exc))}")
        return
    sys.stdout.write(inline_image(jpeg, protocol))  # raw: escape codes the terminal draws, not text
    sys.stdout.flush()

"""Helpers shared by the subcommands: the library from the context, JSON output, common options and errors."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

import alttext.library as api
from alttext.library import QUANTIZE_CHOICES, Library, Settings, display_path, escape_line, redact, to_json

# The commands import these from here, with the other helpers. ``escape_line`` is for every name, caption
# or message printed as text: control characters shown as escapes, never executed by the terminal.
__all__ = ["display_path", "escape_line"]


def settings_from(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def echo_json(data: Any) -> None:
    """Print JSON that parses anywhere: pass paths raw (not ``display_path``'d), so a name that isn't
    UTF-8 keeps its exact bytes in ``FIELD_bytes_b64`` (see text_safety.json_ready)."""
    click.echo(to_json(data, indent=2))


def _device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A misspelt device is a usage error before anything loads (whether it exists: when the model loads)."""
    if value is None:
        return None
    try:
        return api.parse_device(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def model_options(function: Any) -> Any:
    """The model flags shared by caption, scan and watch."""
    options = [
        click.option("--model", "model", metavar="ID|FOLDER|openai:NAME",
                     help="Hugging Face model id, local folder, or openai:NAME (a model on caption_endpoint)."),
        click.option("--beams", type=click.IntRange(min=1), help="Beam width (default: the model's)."),
        click.option("--max-tokens", "max_tokens", type=click.IntRange(min=1), help="Max new tokens."),
        click.option("--batch-size", "batch_size", type=click.IntRange(min=1),
                     help="Images per model call (default: the model's; 32 for vit-gpt2-style models on CPU, else 8)."),
        click.option("--quantize", type=click.Choice(QUANTIZE_CHOICES), help="int8: faster CPU inference."),
        click.option("--device", callback=_device, help=f"{api.DEVICE_HELP}."),
        click.option("--precision", type=click.Choice(api.PRECISION_CHOICES),
                     help="Model dtype (default auto: bf16/fp16 on a GPU, fp32 on CPU)."),
        click.option("--describe", is_flag=True, default=None,
                     help="Also a long description (Florence-2, chat and openai: models only)."),
        click.option("--read-text", "read_text", is_flag=True, default=None,
                     help="Also read the text in each picture (Florence-2, chat models; others with Tesseract):"
                          " stored, searched, and quoted in the alt text of signs, slides and screenshots."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def open_library(ctx: click.Context, *, index: bool = True, create: bool = False, **overrides: Any) -> Library:
    """The library on the settings (plus command-line ``overrides``; None means "not given"). With
    ``index``, the index is opened now, so a bad ``--db`` is one clear error before any work. Only the
    commands that fill an index (scan, watch, serve) pass ``create``: for every other one a mistyped
    ``--db`` is "no index at PATH", exit 2 (see ``missing_index``), never a new empty index."""
    library = Library(settings=settings_from(ctx), create_index=create, **overrides)
    if index:
        try:
            library.open_index(create=create)
        except api.IndexMissing:
            raise
        except api.IndexUnavailable as exc:  # (looked up only now: it imports SQLAlchemy)
            raise click.ClickException(str(exc)) from exc
    return library


def missing_index(exc: BaseException) -> str | None:
    """The one line for "there is no index at --db" (raised by any command, perhaps wrapped), else None."""
    for error in (exc, exc.__cause__):
        if isinstance(error, api.IndexMissing):
            return f"alttext: error: {escape_line(str(error))}"
    return None


@contextmanager
def model_errors() -> Iterator[None]:
    """A model that can't be loaded: one line and exit 2; unusable model or write-back settings: a usage
    error (exit 2)."""
    try:
        yield
    except api.ModelLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except api.ModelSettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    except api.EmbedSettingsError as exc:
        raise click.BadParameter(str(exc)) from exc


def on_interrupt(ctx: click.Context, kept: Callable[[], str]) -> None:
    """What the command says it kept if Ctrl-C stops it from here on (asked for then, so it can count);
    the command group says it and exits 130 (see ``interrupted``)."""
    ctx.find_root().meta[_KEPT_ON_INTERRUPT] = kept


def interrupted_in(ctx: click.Context) -> NoReturn:
    """Ctrl-C reached the command group: the command's own sentence (``on_interrupt``), else the general one."""
    kept = ctx.meta.get(_KEPT_ON_INTERRUPT)
    interrupted(kept=kept() if kept is not None else None)


_KEPT_ON_INTERRUPT = "alttext.kept_on_interrupt"


def interrupted(what: str | None = None, *, kept: str | None = None) -> NoReturn:
    """Ctrl-C: say what was kept and exit 130 (128 + SIGINT), like a shell, in every command. ``what``:
    the things saved so far ("captions"); or ``kept``: the whole sentence, for commands that save nothing."""
    if kept is None:
        kept = (f"{what} so far are saved; run the same command to continue" if what
                else "every change finished before it is saved (each is a transaction or an atomic replace)")
    click.echo(f"\ninterrupted: {kept}", err=True)
    sys.exit(130)


# errno -> what a person should be told; sqlite's result codes (the low byte of sqlite_errorcode) likewise.
_FULL_ERRNOS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system"}
_SQLITE_FULL, _SQLITE_READONLY = 13, 8
_POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full: the database server's disk (docs/architecture.md §12)


def storage_failure(exc: BaseException, index_path: str | None) -> str | None:
    """The one line for an error that means "the disk can't take the write" (full, over quota, read-only),
    or None for any other error. Looks through the causes: SQLAlchemy wraps sqlite3's and psycopg's errors
    (``.orig``), and the library may wrap both (``raise ... from``). Duck-typed: the command line imports no
    SQL."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return _full_line(_FULL_ERRNOS[error.errno], error.filename, error.strerror or str(error))
        code = getattr(error, "sqlite_errorcode", None)
        message = str(error).lower()
        if (code is not None and code & 0xFF == _SQLITE_FULL) or "database or disk is full" in message:
            return _full_line("disk full", index_path, "database or disk is full")
        if code is not None and code & 0xFF == _SQLITE_READONLY:
            return _full_line("read-only index", index_path, str(error))
        if getattr(error, "sqlstate", None) == _POSTGRES_DISK_FULL:  # the server's first line, not its HINT
            return _full_line("disk full on the database server", index_path,
                              (str(error).strip().splitlines() or ["could not write"])[0])
        causes = (error.__context__, error.__cause__, getattr(error, "orig", None))
        pending.extend(cause for cause in causes if isinstance(cause, BaseException))
    return None


def _full_line(what: str, where: object, detail: str) -> str:
    """``where``: a path (str, bytes, PathLike) or a database address (its password never shown), or
    None/a descriptor number when the file is unknown."""
    place = ""
    if isinstance(where, str | bytes | os.PathLike) and os.fspath(where):
        name = os.fsdecode(where)
        place = f" while writing {escape_line(redact(name) if '://' in name else name)}"
    return f"alttext: error: {what}{place}: {escape_line(detail)}"


def stop_output() -> None:
    """After standard output failed (``> /dev/full``): send what is still buffered nowhere, so the
    interpreter's last flush can't print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass

"""``alttext watch``: the daemon. Captions photos as they arrive; runs until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import click

from alttext.cli.common import model_errors, model_options, open_library

logger = logging.getLogger("alttext.watch")

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1.5h``, ``1d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90, 45s, 15m, 1h, 1d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0")
    return seconds


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _JournalFormatter(logging.Formatter):
    """journald reads a ``<N>`` prefix as the line's priority and adds its own timestamp."""

    PRIORITIES = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

    def format(self, record: logging.LogRecord) -> str:
        priority = next((value for level, value in self.PRIORITIES if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


def _under_journald() -> bool:
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in stream.split(":"))
        info = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def _configure_logging(verbose: int) -> None:
    logging.getLogger("alttext.watch").setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose:
        logging.getLogger("alttext").setLevel(logging.INFO)
    if verbose >= 2:
        logging.getLogger().setLevel(logging.DEBUG)
    else:
        logging.getLogger("watchdog").setLevel(logging.ERROR)  # we log overflows and limits ourselves
    if _under_journald():
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@model_options
@click.option("--embed", is_flag=True, help="Write the alt text into each new photo's metadata.")
@click.option("--variants", "with_variants", is_flag=True,
              help="Also ask the configured chat model for creative variants (in the background).")
@click.option("--poll", is_flag=True, help="Poll instead of using inotify (network shares, FUSE).")
@click.option("--poll-interval", type=Duration(), default="5s", show_default=True, metavar="D",
              help="Time between polls with --poll (or after falling back to polling).")
@click.option("--scan-interval", type=Duration(), metavar="D",
              help="Time between full rescans, e.g. 30m, 6h (default: the scan_interval setting, 1h).")
@click.option("--caption/--no-caption", default=None,
              help="--no-caption: find and queue new photos only, for `alttext worker` processes to caption"
                   " (default: the watch_caption setting, on).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def watch(ctx: click.Context, folders: tuple[str, ...], embed: bool, with_variants: bool, poll: bool,
          poll_interval: float, scan_interval: float | None, caption: bool | None, verbose: int,
          **model_flags: Any) -> None:
    """Watch FOLDERS and caption every photo that appears or changes, until stopped.

    Keeps the index in step with moves, renames and deletions like `alttext scan`, which it runs at
    start-up and every --scan-interval; file events make new photos searchable within seconds. A file
    is read only once complete. Stop it with SIGTERM or Ctrl-C: the batch in progress is finished or
    left queued, nothing is lost. Made to run under systemd (Type=notify, WatchdogSec): see systemd/.
    """
    _configure_logging(verbose)
    library = open_library(ctx, create=True, scan_interval=scan_interval, **model_flags)
    try:
        with model_errors():  # unusable write-back settings; model errors come later, from the daemon
            code = library.watch(folders, embed=embed, variants=with_variants, poll=poll, poll_interval=poll_interval,
                                 caption=caption)
    finally:
        library.close()
    sys.exit(code)

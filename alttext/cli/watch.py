"""``alttext watch``: the daemon. Captions photos as they arrive; runs until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import click

from alttext.cli.common import model_options, open_index, settings_from

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


def _roots(folders: tuple[str, ...]) -> list[str]:
    roots: list[str] = []
    for folder in sorted({os.path.abspath(folder) for folder in folders}, key=len):
        outer = next((root for root in roots if folder.startswith(root.rstrip(os.sep) + os.sep)), None)
        if outer is not None:
            logger.info("%s is inside %s, which is watched already", folder, outer)
            continue
        if not os.path.isdir(folder):
            logger.warning("%s is not a folder (yet?); watching for it", folder)
        roots.append(folder)
    return roots


def _model_factory(settings: Any) -> Callable[[], Any]:
    def load() -> Any:
        from alttext.captioning import Captioner, ModelLoadError
        from alttext.watch.loop import FatalError

        try:
            return Captioner(
                settings.model, device=settings.device, beams=settings.beams, max_new_tokens=settings.max_tokens,
                batch_size=settings.batch_size, quantize=settings.quantize, threads=settings.threads,
            )
        except ModelLoadError as exc:
            raise FatalError(f"cannot load the model: {exc}", exit_code=2) from exc
        except ValueError as exc:
            raise FatalError(f"cannot use the model settings: {exc}", exit_code=2) from exc

    return load


def _embedder(settings: Any) -> Callable[[Any, int, str], None]:
    """The --embed hook: after a file is indexed, write its alt text into it (errors are logged, not fatal).

    The metadata writer records the file's new stat in the index (record_own_write), so the change
    event our own write causes reconciles as "unchanged".
    """
    from alttext.cli.embed import build_options
    from alttext.index.writeback import embed_targets, select_targets

    options = build_options(settings, fields=None, lang=None, force_sidecar=False, sidecar_name=None,
                            force=False, backup=False)

    def embed_one(index: Any, file_id: int, path: str) -> None:
        targets, _ = select_targets(index, [path])
        for target, result in embed_targets(index, targets, options):
            if result.ok:
                logger.info("embedded alt text: %s (%s)", target.path, result.status)
            else:
                logger.warning("cannot embed alt text into %s: %s", target.path, result.error)

    return embed_one


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
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def watch(ctx: click.Context, folders: tuple[str, ...], embed: bool, with_variants: bool, poll: bool,
          poll_interval: float, scan_interval: float | None, verbose: int, **model_flags: object) -> None:
    """Watch FOLDERS and caption every photo that appears or changes, until stopped.

    Keeps the index in step with moves, renames and deletions like `alttext scan`, which it runs at
    start-up and every --scan-interval; file events make new photos searchable within seconds. A file
    is read only once complete. Stop it with SIGTERM or Ctrl-C: the batch in progress is finished or
    left queued, nothing is lost. Made to run under systemd (Type=notify, WatchdogSec): see systemd/.
    """
    from alttext.index.writeback import existing_caption_reader
    from alttext.watch.daemon import WatchDaemon
    from alttext.watch.loop import WatchOptions

    _configure_logging(verbose)
    # Idle OpenMP threads sleep instead of spinning: a background daemon shares the machine. Measured on
    # 2 busy cores: 0.06 s per batch instead of 0.6-1 s (spinning threads fight the other processes).
    # Must be set before torch is imported (the model loads lazily, later).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = settings_from(ctx).replace(**model_flags)  # type: ignore[arg-type]
    if scan_interval is not None:
        settings = settings.replace(scan_interval=scan_interval)
    roots = _roots(folders)
    index = open_index(settings)
    on_indexed = _embedder(settings) if embed else None
    runners: list[Any] = []
    if with_variants:
        from alttext.watch.variants import make_variants_runner

        variants = make_variants_runner(index, settings)
        if variants is not None:
            runners.append(variants)
    from alttext.search.encoder import semantic_available

    if semantic_available():
        from alttext.watch.background import SemanticVectorsRunner

        runners.append(SemanticVectorsRunner(index))
    options = WatchOptions(
        roots=roots, settle_seconds=settings.settle_seconds, scan_interval=settings.scan_interval, poll=poll,
        poll_interval=poll_interval, batch_size=settings.batch_size, max_pixels=settings.max_image_pixels,
        read_existing=existing_caption_reader(settings.lang),
    )
    from alttext.watch.background import Fanout

    daemon = WatchDaemon(index, options, _model_factory(settings), background=Fanout(runners) if runners else None,
                         on_indexed=on_indexed)
    try:
        code = daemon.run()
    finally:
        index.close()
    sys.exit(code)

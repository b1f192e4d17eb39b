"""``alttext scan``: bring the index in step with folders and caption what is new."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import ExitStack

import click

from alttext.cli.common import build_captioner, display_path, echo_json, model_options, open_index, settings_from


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@model_options
@click.option("--embed", "embed_after", is_flag=True,
              help="Then write the alt text into the photos' metadata (see: alttext embed --help).")
@click.option("--no-metadata", is_flag=True, help="Don't import alt text or descriptions the files already hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def scan(ctx: click.Context, folders: tuple[str, ...], embed_after: bool, no_metadata: bool, as_json: bool,
         **model_flags: object) -> None:
    """Index FOLDERS: caption new and changed images, follow moves, mark deleted files missing.

    Unchanged files are skipped by their size and modification time, without reading them. Text a
    photo's metadata already holds (IPTC alt text, description) is imported instead of running the
    model. Ctrl-C is safe: what is captioned is kept and the next run continues. Exits 1 if any file
    failed.
    """
    from alttext.index.scan import scan as run_scan
    from alttext.index.writeback import existing_caption_reader

    settings = settings_from(ctx).replace(**model_flags)  # type: ignore[arg-type]
    index = open_index(settings)
    with ExitStack() as bars:
        progress = _progress_bars(bars) if sys.stderr.isatty() and not as_json else None
        try:
            summary = run_scan(
                index, list(folders), lambda: build_captioner(settings), batch_size=settings.batch_size,
                max_pixels=settings.max_image_pixels, progress=progress,
                read_existing=None if no_metadata else existing_caption_reader(settings.lang),
            )
        except KeyboardInterrupt:
            click.echo("\ninterrupted: captions so far are saved; run the same command to continue", err=True)
            sys.exit(130)
    if as_json:
        echo_json(summary.as_dict())
    else:
        for error in summary.errors:
            click.echo(f"{display_path(error['path'])}: error: {error['error']}", err=True)
        for folder in summary.unreadable_dirs:
            click.echo(f"{display_path(folder)}: error: folder cannot be read", err=True)
        click.echo(
            f"new {summary.new}, changed {summary.changed}, moved {summary.moved}, unchanged {summary.unchanged},"
            f" missing {summary.missing}, restored {summary.restored}, failed {summary.failed}"
            f" (captioned {summary.captioned}, reused {summary.reused}, from metadata {summary.imported})"
        )
    _vectors_for_semantic_search(index)
    embed_failed = _embed_after_scan(settings, index, list(folders), as_json) if embed_after else 0
    if summary.failed or embed_failed:
        sys.exit(1)


def _vectors_for_semantic_search(index: object) -> None:
    """With the `semantic` extra installed, give new captions their sentence vectors (batched, resumable)."""
    from alttext.search.encoder import MODEL_NAME, semantic_available

    if not semantic_available():
        return
    from alttext.search.vectors import compute_pending_vectors, vectors_pending

    if vectors_pending(index, MODEL_NAME, 384):  # type: ignore[arg-type]  # all-MiniLM-L6-v2 vectors: 384 floats
        compute_pending_vectors(index)  # type: ignore[arg-type]


def _embed_after_scan(settings: object, index: object, folders: list[str], as_json: bool) -> int:
    """Embed what the scan indexed below the folders and isn't embedded yet; returns the failures."""
    from alttext.cli.embed import build_options
    from alttext.index.writeback import embed_targets, select_targets

    options = build_options(settings, fields=None, lang=None, force_sidecar=False, sidecar_name=None,
                            force=False, backup=False)
    pending, _ = select_targets(index, None)  # type: ignore[arg-type]
    wanted = [os.path.abspath(folder).rstrip(os.sep) + os.sep for folder in folders]
    targets = [target for target in pending if target.path.startswith(tuple(wanted))]
    failed = 0
    for target, result in embed_targets(index, targets, options):  # type: ignore[arg-type]
        if not result.ok:
            failed += 1
            click.echo(f"{display_path(target.path)}: embed error: {result.error}", err=True)
    if not as_json:
        click.echo(f"embedded {len(targets) - failed} file(s), {failed} failed")
    return failed


def _progress_bars(stack: ExitStack) -> Callable[[str, int | None], Callable[[int], None]]:
    from tqdm import tqdm

    def make(label: str, total: int | None) -> Callable[[int], None]:
        bar = stack.enter_context(
            tqdm(total=total, desc=label, unit="file", dynamic_ncols=True, leave=True, file=sys.stderr)
        )
        return bar.update

    return make

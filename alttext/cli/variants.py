"""``alttext variants``: creative caption variants from an OpenAI-compatible chat model."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from alttext.cli.common import display_path, echo_json, open_index, settings_from


@dataclass
class _Target:
    path: str
    caption_id: int
    caption: str


def _style(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from alttext.variants import normalise_style

    try:
        return normalise_style(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _resolve(index: Any, paths: tuple[str, ...]) -> tuple[list[_Target], list[tuple[str, str]]]:
    """Indexed files with a current caption for PATHs (files, or folders: every indexed file below)."""
    from sqlalchemy import select

    from alttext.index.models import INDEXED, Caption, File, Image

    files, images, captions = File.__table__, Image.__table__, Caption.__table__
    query = (
        select(files.c.path, files.c.state, captions.c.id, captions.c.text)
        .select_from(
            files.outerjoin(images, images.c.id == files.c.image_id).outerjoin(
                captions, captions.c.id == images.c.caption_id
            )
        )
    )
    targets: dict[str, _Target] = {}
    problems: list[tuple[str, str]] = []
    with index.read() as connection:
        for path in paths:
            absolute = os.path.abspath(path)
            if os.path.isdir(absolute):
                prefix = os.fsencode(absolute).rstrip(b"/") + b"/"
                rows = connection.execute(
                    query.where(files.c.path >= prefix, files.c.path < prefix[:-1] + b"0",
                                files.c.state == INDEXED, captions.c.id.is_not(None))
                    .order_by(files.c.path)
                ).all()
                if not rows:
                    problems.append((path, "no indexed, captioned files here (run: alttext scan FOLDER)"))
            else:
                rows = connection.execute(query.where(files.c.path == absolute)).all()
                if not rows:
                    problems.append((path, "not in the index (run: alttext scan FOLDER)"))
                elif rows[0].state != INDEXED or rows[0].id is None:
                    problems.append((path, f"has no caption (state: {rows[0].state})"))
                    rows = []
            for row in rows:
                targets.setdefault(row.path, _Target(row.path, row.id, row.text))
    return list(targets.values()), problems


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--n", "n", type=click.IntRange(1, 10), default=3, show_default=True, help="Variants per image.")
@click.option("--style", default="catchy", show_default=True, callback=_style,
              help="catchy, formal, funny, social, poetic, short, or another short word.")
@click.option("--model", "model", metavar="M", help="Chat model (default: setting openai_model).")
@click.option("--force", is_flag=True, help="Ask again for images that already have N variants in this style.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Print the prompts and the number of calls; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, caption, variants, error}.")
@click.pass_context
def variants(ctx: click.Context, paths: tuple[str, ...], n: int, style: str, model: str | None, force: bool,
             dry_run: bool, as_json: bool) -> None:
    """Ask a chat model for N creative variants of the captions of PATHS and store them.

    PATHS are indexed files or folders (every indexed file below). Needs OPENAI_API_KEY or an
    OpenAI-compatible endpoint (OPENAI_BASE_URL / openai_base_url); the alt text itself is unchanged.
    Images that already have N variants in this style are skipped (--force asks again and replaces
    them), so an interrupted or capped run continues where it stopped. Failed requests are queued and
    retried by the next run (or `alttext watch --variants`). Exits 1 if any image got no variants.
    """
    from alttext.variants import MissingCredentials, VariantClient, plan_dry_run

    settings = settings_from(ctx).replace(openai_model=model)
    client = None
    if not dry_run:
        try:
            client = VariantClient.from_settings(settings)
        except MissingCredentials as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    index = open_index(settings)
    try:
        targets, problems = _resolve(index, paths)
        for path, problem in problems:
            click.echo(f"{display_path(path)}: error: {problem}", err=True)
        captions: dict[int, str] = {}
        for target in targets:
            captions.setdefault(target.caption_id, target.caption)
        if not force:
            done = _have_variants(index, captions, n, style)
            captions = {caption_id: text for caption_id, text in captions.items() if caption_id not in done}
        else:
            done = set()

        if dry_run:
            plan = plan_dry_run(list(captions.values()), n, style)
            if as_json:
                echo_json({"calls": plan.calls, "max_calls": plan.max_calls,
                           "prompts": [{"caption": p.caption, "messages": p.messages} for p in plan.prompts]})
            else:
                click.echo(plan.render())
            sys.exit(1 if problems else 0)

        assert client is not None
        results = _run(index, client, captions, n, style)
        _report(index, targets, {**dict.fromkeys(done), **results}, style, as_json, client, skipped=len(done))
    finally:
        index.close()
        if client is not None:
            client.close()
    if problems or any(error for error in results.values()):
        sys.exit(1)


def _have_variants(index: Any, captions: dict[int, str], n: int, style: str) -> set[int]:
    """Captions that already have at least ``n`` variants in ``style``."""
    from sqlalchemy import func, select

    from alttext.index.models import Variant

    table = Variant.__table__
    with index.read() as connection:
        rows = connection.execute(
            select(table.c.caption_id).where(table.c.caption_id.in_(list(captions)), table.c.style == style)
            .group_by(table.c.caption_id).having(func.count() >= n)
        ).all()
    return {row.caption_id for row in rows}


def _run(index: Any, client: Any, captions: dict[int, str], n: int, style: str) -> dict[int, str | None]:
    """Queue one job per caption, run them now; caption id -> error (None when variants were stored)."""
    from alttext.index.variant_jobs import request_variants, run_variant_jobs

    with index.write() as connection:
        job_of = {caption_id: request_variants(connection, caption_id, n, style) for caption_id in captions}
    try:
        counts = run_variant_jobs(index, client, job_ids=list(job_of.values()))
    except KeyboardInterrupt:
        click.echo("\ninterrupted: variants so far are saved; run the same command to continue", err=True)
        sys.exit(130)
    by_job = {outcome.job_id: outcome for outcome in counts.outcomes}
    errors: dict[int, str | None] = {}
    for caption_id, job_id in job_of.items():
        outcome = by_job.get(job_id)
        if outcome is None:  # never reached: the request cap stopped the run first
            errors[caption_id] = "request cap reached; queued for the next run"
        elif outcome.status == "done":
            errors[caption_id] = None
        elif outcome.status == "capped":
            errors[caption_id] = f"{outcome.error}; queued for the next run"
        elif outcome.status == "retrying":
            errors[caption_id] = f"{outcome.error} (queued; retried by the next run)"
        elif outcome.status == "dropped":
            errors[caption_id] = "the caption changed meanwhile; run again"
        else:
            errors[caption_id] = f"{outcome.error} (run again to retry)"
    return errors


def _report(index: Any, targets: list[_Target], errors: dict[int, str | None], style: str, as_json: bool,
            client: Any, *, skipped: int) -> None:
    from alttext.index.variant_jobs import variants_of

    with index.read() as connection:
        stored = {caption_id: variants_of(connection, caption_id, style) for caption_id in errors}
    if as_json:
        echo_json([
            {"path": display_path(t.path), "caption": t.caption, "variants": stored[t.caption_id],
             "error": errors[t.caption_id]}
            for t in targets
        ])
        return
    for target in targets:
        error = errors[target.caption_id]
        if error:
            click.echo(f"{display_path(target.path)}: error: {error}", err=True)
            continue
        click.echo(f"{display_path(target.path)}: {target.caption}")
        for variant in stored[target.caption_id]:
            click.echo(f"  - {variant['text']}")
    ok = sum(1 for error in errors.values() if error is None) - skipped
    click.echo(
        f"new variants for {ok} of {len(errors) - skipped} image(s)"
        + (f", {skipped} already had {style} variants (--force asks again)" if skipped else "")
        + f"; style {style}, model {client.model}, {client.requests_made} chat request(s)"
    )

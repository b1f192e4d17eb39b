"""``alttext variants``: creative caption variants from an OpenAI-compatible chat model."""

from __future__ import annotations

import sys
from contextlib import ExitStack

import click

import alttext.library as api
from alttext.cli.common import display_path, echo_json, interrupted, open_library
from alttext.cli.progress import progress_bars


def _style(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return api.Library.normalise_style(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--n", "n", type=click.IntRange(1, 10), default=3, show_default=True, help="Variants per image.")
@click.option("--style", default="catchy", show_default=True, callback=_style,
              help="catchy, formal, funny, social, poetic, short, or another short word.")
@click.option("--chat-model", "chat_model", metavar="M", help="Chat model (default: setting openai_model).")
@click.option("--model", "old_model", metavar="M", hidden=True, help="Old spelling of --chat-model.")
@click.option("--force", is_flag=True, help="Ask again for images that already have N variants in this style.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Print the prompts and the number of calls; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, caption, variants, error}.")
@click.pass_context
def variants(ctx: click.Context, paths: tuple[str, ...], n: int, style: str, chat_model: str | None,
             old_model: str | None, force: bool, dry_run: bool, as_json: bool) -> None:
    """Ask a chat model for N creative variants of the captions of PATHS and store them.

    PATHS are indexed files or folders (every indexed file below). Needs OPENAI_API_KEY or an
    OpenAI-compatible endpoint (OPENAI_BASE_URL / openai_base_url); the alt text itself is unchanged.
    Images that already have N variants in this style are skipped (--force asks again and replaces
    them), so an interrupted or capped run continues where it stopped. Failed requests are queued and
    retried by the next run (or `alttext watch --variants`). Exits 1 if any image got no variants.
    """
    if old_model is not None:
        click.echo("note: variants --model is now --chat-model (--model names the captioning model elsewhere)",
                   err=True)
        chat_model = chat_model or old_model
    library = open_library(ctx, index=False)  # no index is created before the credentials are known
    try:
        if dry_run:
            plan, problems = library.plan_variants(paths, n=n, style=style, force=force)
            _print_problems(problems)
            if as_json:
                echo_json({"calls": plan.calls, "max_calls": plan.max_calls,
                           "prompts": [{"caption": p.caption, "messages": p.messages} for p in plan.prompts]})
            else:
                click.echo(plan.render())
            sys.exit(1 if problems else 0)
        try:
            with ExitStack() as bars:
                report = library.variants(paths, n=n, style=style, force=force, chat_model=chat_model,
                                          progress=progress_bars(bars))
        except api.MissingCredentials as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except api.IndexUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            interrupted("variants")
    finally:
        library.close()
    _print_problems(report.problems)
    _report(report, as_json)
    if report.problems or any(item.error for item in report.items):
        sys.exit(1)


def _print_problems(problems: list[tuple[str, str]]) -> None:
    for path, problem in problems:
        click.echo(f"{display_path(path)}: error: {problem}", err=True)


def _report(report: api.VariantsReport, as_json: bool) -> None:
    if as_json:
        echo_json([{"path": display_path(item.path), "caption": item.caption, "variants": item.variants,
                    "error": item.error} for item in report.items])
        return
    for item in report.items:
        if item.error:
            click.echo(f"{display_path(item.path)}: error: {item.error}", err=True)
            continue
        click.echo(f"{display_path(item.path)}: {item.caption}")
        for variant in item.variants:
            click.echo(f"  - {variant['text']}")
    click.echo(
        f"new variants for {report.new} of {report.asked} image(s)"
        + (f", {report.already_done} already had {report.style} variants (--force asks again)"
           if report.already_done else "")
        + f"; style {report.style}, model {report.model}, {report.requests} chat request(s)"
    )

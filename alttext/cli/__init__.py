"""The ``alttext`` command. Subcommands live one per module and are imported only when used, so that
``alttext search`` answers without importing torch."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from alttext import __version__
from alttext.library import ConfigError, load_settings

# name -> "module:attribute"; a new command is one line here plus its module.
COMMANDS: dict[str, str] = {
    "apply-html": "alttext.cli.apply_html:apply_html",
    "approve": "alttext.cli.review:approve",
    "caption": "alttext.cli.caption:caption",
    "config": "alttext.cli.config_cmd:config",
    "embed": "alttext.cli.embed:embed",
    "edit": "alttext.cli.review:edit",
    "export": "alttext.cli.export:export",
    "lint": "alttext.cli.lint:lint",
    "model": "alttext.cli.model:model",
    "review": "alttext.cli.review:review",
    "scan": "alttext.cli.scan:scan",
    "search": "alttext.cli.search:search",
    "serve": "alttext.cli.serve:serve",
    "show": "alttext.cli.show:show",
    "status": "alttext.cli.status:status",
    "variants": "alttext.cli.variants:variants",
    "watch": "alttext.cli.watch:watch",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a disk that can't take a write (full, over quota, read-only) anywhere in it is
        one line on stderr and exit 1, not a traceback: every write is a transaction or an atomic replace,
        so nothing already saved is lost. The one place this is handled, for every command."""
        from alttext.cli.common import stop_output, storage_failure

        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a full disk under `> FILE` surfaces here, not in the interpreter's exit
        except Exception as exc:
            settings = ctx.obj
            line = storage_failure(exc, getattr(settings, "db", None))
            if line is None:
                raise
            try:
                sys.stdout.flush()
            except OSError:  # standard output itself is what failed
                stop_output()
            click.echo(line, err=True)
            sys.exit(1)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH|URL",
              help="SQLite index file (default: per-user data folder), or postgresql://user@host/db.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="alttext")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: int) -> None:
    """Accessible alt text for photo libraries, from local vision models."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = settings.replace(db=db, verbose=True if verbose else None)
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    level = logging.WARNING
    if verbose == 1 or settings.verbose:
        level = logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = settings


def main() -> None:
    cli(prog_name="alttext")

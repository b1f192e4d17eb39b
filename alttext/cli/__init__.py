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
    "db": "alttext.cli.db:db",
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
    "worker": "alttext.cli.worker:worker",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        """Run the command. Ctrl-C anywhere is exit 130 with what was kept, the same in every command. A
        disk that can't take a write (full, over quota, read-only) anywhere in it is one line on stderr and
        exit 1, not a traceback: every write is a transaction or an atomic replace, so nothing already saved
        is lost. The one place both are handled, for every command."""
        from alttext.cli.common import interrupted_in, missing_index, stop_output, storage_failure

        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a full disk under `> FILE` surfaces here, not in the interpreter's exit
        except KeyboardInterrupt:  # Ctrl-C: what was kept and exit 130 in every command, not click's "Aborted!"
            interrupted_in(ctx)
        except Exception as exc:
            missing = missing_index(exc)
            if missing is not None:  # a mistyped --db: a usage error, and nothing was created
                click.echo(missing, err=True)
                sys.exit(2)
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
        return _with_global_options(getattr(importlib.import_module(module_name), attribute))


def _with_global_options(command: click.Command) -> click.Command:
    """Let ``--db`` and ``-v`` follow the subcommand too (``alttext scan DIR -v``), as people type them;
    a command with its own option of that name (``watch -v``) keeps it. Added once per command object."""
    if getattr(command, "_alttext_global_options", False):
        return command
    taken = {name for param in command.params for name in getattr(param, "opts", ())}
    if "--db" not in taken:
        command.params.append(click.Option(["--db"], metavar="PATH", expose_value=False, callback=_late_db,
                                           help="SQLite index file (also accepted before the command)."))
    if "-v" not in taken and "--verbose" not in taken:
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                           callback=_late_verbose, help="More log output (-vv for debug)."))
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            _with_global_options(subcommand)
    command._alttext_global_options = True  # type: ignore[attr-defined]
    return command


def _late_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        root = ctx.find_root()
        root.obj = root.obj.replace(db=value)


def _late_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root()
        root.obj = root.obj.replace(verbose=True)
        _set_log_level(value + root.params.get("verbose", 0), root.obj.verbose)


def _set_log_level(verbose: int, verbose_setting: bool) -> None:
    level = logging.WARNING
    if verbose == 1 or verbose_setting:
        level = logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if level < logging.WARNING:  # a -v after the subcommand comes after basicConfig (which acts only once)
        logging.getLogger().setLevel(level)


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
    except ConfigError as exc:  # a configuration error, like a usage error: exit 2 (systemd won't loop on it)
        click.echo(f"alttext: error: {exc}", err=True)
        sys.exit(2)
    settings = settings.replace(db=db, verbose=True if verbose else None)
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    _set_log_level(verbose, settings.verbose)
    ctx.obj = settings


def main() -> None:
    cli(prog_name="alttext")

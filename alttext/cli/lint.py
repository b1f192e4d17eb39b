"""``alttext lint``: find alt text a screen-reader user would stumble over; for CI, exits 1 on findings."""

from __future__ import annotations

import sys

import click

from alttext.cli.common import echo_json, escape_line, open_library


@click.command()
@click.option("--under", metavar="FOLDER", type=click.Path(file_okay=False), help="Only files below FOLDER.")
@click.option("--errors-only", is_flag=True, help="Report (and fail on) errors only, not warnings.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {path, level, code, message, alt_text}.")
@click.pass_context
def lint(ctx: click.Context, under: str | None, errors_only: bool, as_json: bool) -> None:
    """Check the alt text of every indexed file (below FOLDER).

    Errors: missing alt text, a file name (IMG_1234.jpg) or placeholder ("image", "untitled"), a lead-in
    like "image of", over 250 characters. Warnings: over 125 characters, under 3 words or 10 characters,
    the same text for different pictures. Exits 1 when anything is found, 0 when all is clean.
    """
    findings = open_library(ctx).lint(under=under, errors_only=errors_only)
    count = errors = 0
    if as_json:
        collected = []
        for finding in findings:
            collected.append(finding.as_dict())  # raw path: echo_json keeps a non-UTF-8 name's bytes
            errors += finding.problem.is_error
        echo_json(collected)
        count = len(collected)
    else:
        for finding in findings:
            count += 1
            errors += finding.problem.is_error
            click.echo(f"{escape_line(finding.path)}: {finding.problem.level}: {finding.problem.code}:"
                       f" {escape_line(finding.problem.message)}")
        click.echo(f"{errors} error(s), {count - errors} warning(s)" if count else "no problems found", err=True)
    if count:
        sys.exit(1)

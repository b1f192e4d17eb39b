"""``alttext serve``: the browser app (``alttext.app``) on the index, on loopback by default.

Decision: ``serve`` is a process of its own beside ``alttext watch``, not an option of the daemon. Both open
the same SQLite index (WAL: readers and short writers work at once), and the app shows the daemon's work
live by reading the index. Kept apart because:

- separate failure domains: a bug or a hostile request in the web face can't stop captioning, and a
  model crash in the daemon doesn't take the pages down;
- the daemon keeps its hardened systemd unit with no network listener at all (``alttext.service``);
  only ``alttext-serve.service`` listens, on loopback;
- either can be restarted, upgraded or left off without the other.
"""

from __future__ import annotations

import logging
import re
import socket
import sys

import click

from alttext.app import bind_problem, create_app, is_loopback, new_token, public_origin
from alttext.cli.common import open_library


def refuse_unsafe_bind(host: str, token: str | None) -> None:
    """One clear line and exit 2 when ``host`` and ``token`` must not be served (a non-loopback address
    without a token, a token too short to be one)."""
    problem = bind_problem(host, token)
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


class _RedactToken(logging.Filter):
    """The access log never shows a ``?token=``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(re.sub(r"(token=)[^&\s]*", r"\1...", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # connections wait in the backlog from now, even before the app has started
    except OSError as exc:
        sock.close()
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs a token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option("--token", envvar="ALTTEXT_SERVE_TOKEN", metavar="TOKEN",
              help="Require this token on every request (also from $ALTTEXT_SERVE_TOKEN).")
@click.option("--new-token", "generate", is_flag=True,
              help="Make a random token and print the address with it, once.")
@click.option("--public-url", envvar="ALTTEXT_SERVE_PUBLIC_URL", metavar="URL",
              help="The address a reverse proxy serves the app at (https://photos.example.org): its forms are"
                   " accepted from there, and over https the cookies are Secure.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None, generate: bool, public_url: str | None
          ) -> None:
    """The browser app: search, look at, review and fix alt text; caption uploads.

    It listens on http://127.0.0.1:8765/ (this machine only). To reach it from elsewhere, keep it on
    loopback behind a reverse proxy with TLS and give it a --token (see systemd/README.md).
    """
    _run(ctx, host, port, token or None, generate, public_url or None)


def _run(ctx: click.Context, host: str, port: int, token: str | None, generate: bool, public_url: str | None
         ) -> None:
    import uvicorn

    try:
        public_origin(public_url)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if generate and not token:
        token = new_token()
    refuse_unsafe_bind(host, token)
    library = open_library(ctx, create=True)  # the app can start a library: uploads are added to it
    sock = _listen(host, port)
    port = sock.getsockname()[1]
    app = create_app(library, token=token, host=host, port=port, public_url=public_url)
    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    address = f"http://{shown_host}:{port}/"
    if generate:
        click.echo(f"alttext serve: open {address}?token={token} (the token is shown only this once)")
    else:
        click.echo(f"alttext serve: open {address}{' (a token is required)' if token else ''}")
    if not is_loopback(host):
        click.echo("warning: listening beyond this machine without TLS; prefer loopback behind a reverse proxy",
                   err=True)
    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    config = uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                            proxy_headers=False, server_header=False, lifespan="on")
    logging.getLogger("uvicorn.access").addFilter(_RedactToken())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        library.close()
        sock.close()

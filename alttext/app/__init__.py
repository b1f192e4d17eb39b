"""``alttext serve``: the browser app to caption, look, review and fix alt text (layer 6, a face).

Like ``alttext.cli``, it imports nothing of alttext but the front door (``alttext.library``): every
page is a call to ``Library``, never SQL and never the command line. ``create_app`` builds the Starlette
app (imported only then: ``alttext --help`` doesn't load Starlette); ``security`` holds who may talk to
it and what every response carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alttext.app.security import bind_problem, is_loopback, new_token, public_origin

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from alttext.library import Library


def create_app(library: Library, *, token: str | None = None, host: str = "127.0.0.1", port: int = 8765,
               public_url: str | None = None) -> Starlette:
    """The app over ``library``, for ``host:port`` (its own names, for the Host check), published at
    ``public_url`` when a reverse proxy serves it. Check ``bind_problem(host, token)`` and
    ``public_origin(public_url)`` first: this builds what it is given."""
    from alttext.app.server import create_app as build

    return build(library, token=token, host=host, port=port, public_url=public_url)


__all__ = ["bind_problem", "create_app", "is_loopback", "new_token", "public_origin"]

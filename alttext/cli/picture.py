"""Showing a photo from the command line: in the system's image viewer, or inline in terminals that
draw images (kitty's graphics protocol, iTerm2's inline images, which WezTerm speaks too).

Only what the terminal says about itself in the environment is trusted: nothing is queried, so a terminal
that draws no images never receives escape codes it would print as garbage. Sixel terminals are not
detected (nothing in the environment says so reliably); they get the viewer and the browser app.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping

KITTY, ITERM = "kitty", "iterm"
_KITTY_CHUNK = 4096  # the protocol's largest base64 payload per escape sequence


def inline_protocol(environ: Mapping[str, str] | None = None) -> str | None:
    """The inline image protocol the terminal announces, or None. Inside tmux or screen the codes would
    need a passthrough the user may not have enabled: None there."""
    env = os.environ if environ is None else environ
    if env.get("TMUX") or env.get("TERM", "").startswith(("screen", "tmux")):
        return None
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty":
        return KITTY
    if env.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return ITERM
    return None


def inline_image(jpeg: bytes, protocol: str) -> str:
    """The escape codes that draw ``jpeg`` (a thumbnail) at the cursor, followed by a newline."""
    if protocol == ITERM:  # iTerm2 takes any image format the system decodes
        payload = base64.b64encode(jpeg).decode("ascii")
        return f"\x1b]1337;File=inline=1;size={len(jpeg)};preserveAspectRatio=1:{payload}\x07\n"
    if protocol != KITTY:
        raise ValueError(f"unknown inline image protocol: {protocol!r}")
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as picture:  # kitty takes PNG (f=100), not JPEG
        png = io.BytesIO()
        picture.save(png, format="PNG")
    payload = base64.b64encode(png.getvalue()).decode("ascii")
    chunks = [payload[start:start + _KITTY_CHUNK] for start in range(0, len(payload), _KITTY_CHUNK)] or [""]
    parts = []
    for number, chunk in enumerate(chunks):
        more = 1 if number < len(chunks) - 1 else 0
        control = f"a=T,f=100,q=2,m={more}" if number == 0 else f"m={more}"
        parts.append(f"\x1b_G{control};{chunk}\x1b\\")
    return "".join(parts) + "\n"


def viewer_command() -> str | None:
    """The program that opens a file in the desktop's default application, or None where there is none."""
    name = "open" if sys.platform == "darwin" else "xdg-open"
    return shutil.which(name)


def open_in_viewer(path: str) -> str | None:
    """Open ``path`` in the system's image viewer without waiting for it; returns None, or the one line
    that says why it could not be opened. The path is one argument of the program, never shell text."""
    program = viewer_command()
    if program is None:
        return "no system viewer found (xdg-open or open): open the file yourself, or use the browser app"
    if not os.path.isfile(path):
        return "the file is not there any more"
    try:
        viewer = subprocess.Popen([program, os.path.abspath(path)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # a viewer outlives the prompt, and Ctrl-C there
    except OSError as exc:
        return f"cannot start {program}: {exc.strerror or exc}"
    threading.Thread(target=viewer.wait, name="viewer-reaper", daemon=True).start()  # no zombie left behind
    return None

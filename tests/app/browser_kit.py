"""Chromium through Playwright for the web app's browser tests: the browser, accessibility checks, screenshots.

The browser is Debian's ``chromium`` package (``scripts/setup.sh --test`` installs it), not one that
``playwright install`` downloads: CI has no network beyond the package registries. Without chromium the
browser tests are skipped, except under CI (``CI=true``), where a missing browser fails the run so a broken
set-up can never pass as a green run with the browser tests quietly skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
# Read now, at import: the suite's autouse fixture removes every ALTTEXT_* variable before each test runs.
SCREENSHOTS = Path(os.environ.get("ALTTEXT_SCREENSHOTS") or REPO / "build" / "screenshots")
ON_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root in a container, where chromium's sandbox can't start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
TIMEOUT_MS = 10_000  # any wait longer than this is a failure, not a slow machine
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str | None:
    """Debian's chromium, or None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _unavailable(reason: str) -> NoReturn:
    message = f"{reason}; the browser tests need it (scripts/setup.sh --test installs it)"
    if ON_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def launch_browser() -> Iterator[Any]:
    """Body of a session-scoped fixture: one headless chromium for the whole run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _unavailable("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """Body of a per-test fixture: a page in a fresh context (own cookies, own storage), failing fast.

    ``context_options`` go to ``browser.new_context`` (e.g. ``base_url=``, ``bypass_csp=True``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []

    def dialog_seen(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", dialog_seen)
    page.js_errors = errors  # type: ignore[attr-defined]  # uncaught exceptions in the page's scripts
    page.dialogs = dialogs  # type: ignore[attr-defined]  # alert/confirm/prompt the page opened (dismissed)
    try:
        yield page
    finally:
        context.close()


def axe_violations(page: Any, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict[str, Any]]:
    """axe-core's violations of the page as it is now, of the given impacts (serious and critical).

    axe-playwright-python injects its bundled axe.min.js with ``page.evaluate``, which runs through the
    DevTools protocol and is not subject to the page's Content-Security-Policy, so the app's CSP (no inline
    scripts) stays in force and needs no ``bypass_csp``; ``add_script_tag(content=...)`` would be blocked."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as readable lines for an assertion message."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} [{violation['helpUrl']}]")
        for node in violation["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node.get('failureSummary', '')!r}")
    return "\n".join(lines)


def screenshot(page: Any, name: str) -> list[Path]:
    """Full-page PNGs of the page in light and in dark colour scheme: ``<name>-light.png``, ``<name>-dark.png``
    in $ALTTEXT_SCREENSHOTS or build/screenshots. Leaves the page in the light scheme."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Lazy images below the fold would be blank in a full-page picture: load them all first (5 s at most).
    page.evaluate("""() => Promise.race([
        new Promise(resolve => setTimeout(resolve, 5000)),
        Promise.all(Array.from(document.images, image => {
            image.loading = "eager";
            return image.complete ? null : new Promise(resolve => {
                image.addEventListener("load", resolve);
                image.addEventListener("error", resolve);
            });
        })),
    ])""")
    written = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        path = SCREENSHOTS / f"{name}-{scheme}.png"
        page.screenshot(path=str(path), full_page=True)
        written.append(path)
    page.emulate_media(color_scheme="light")
    return written

"""apply-html and symlinks (issue 13, item 10; README, "Symlinks"): nothing outside SITE_DIR (and
--site-root) is read or written. A link that leads out finds no caption, so a private photo's caption is
never published; a symlinked page stays a symlink, filled through to its target only when that target
is inside SITE_DIR.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from planted import plant

from alttext.index.db import Index

SITE_KITE, PRIVATE = "A red kite over a green hill.", "My neighbour's kid asleep in the back seat."


@pytest.fixture
def layout(index: Index, tmp_path: Path) -> Path:
    """tmp/site (img/kite.png indexed) and tmp/private (secret.png indexed: its caption must stay out)."""
    plant(index, tmp_path / "site" / "img", {"kite.png": SITE_KITE})
    plant(index, tmp_path / "private", {"secret.png": PRIVATE}, start=5)
    return tmp_path / "site"


def _run(invoke, site: Path) -> dict:
    result = invoke("apply-html", str(site), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_link_out_of_the_site_finds_nothing(layout: Path, invoke) -> None:
    page = layout / "index.html"
    html = '<img src="../private/secret.png">\n<img src="/../private/secret.png">\n<img src="img/kite.png">\n'
    page.write_text(html, encoding="utf-8")
    report = _run(invoke, layout)
    assert page.read_text() == html.replace('<img src="img/kite.png">', f'<img alt="{SITE_KITE}" src="img/kite.png">')
    assert PRIVATE not in page.read_text() and report["totals"]["outside"] == 2


def test_an_image_symlinked_to_outside_finds_nothing_and_one_inside_is_followed(layout: Path, invoke) -> None:
    (layout / "img" / "leak.png").symlink_to(layout.parent / "private" / "secret.png")
    (layout / "img" / "alias.png").symlink_to("kite.png")
    page = layout / "index.html"
    page.write_text('<img src="img/leak.png"><img src="img/alias.png">', encoding="utf-8")
    report = _run(invoke, layout)
    assert page.read_text() == f'<img src="img/leak.png"><img alt="{SITE_KITE}" src="img/alias.png">'
    assert report["totals"]["outside"] == 1


def test_a_page_symlinked_to_outside_is_left_alone_with_a_note(layout: Path, invoke) -> None:
    elsewhere = layout.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "page.html").write_text('<img src="img/kite.png">', encoding="utf-8")
    (layout / "linked.html").symlink_to(elsewhere / "page.html")
    result = invoke("apply-html", str(layout))
    assert result.exit_code == 0, result.output
    assert (layout / "linked.html").is_symlink()
    assert (elsewhere / "page.html").read_text() == '<img src="img/kite.png">'
    assert "linked.html: note: a symlink to a page outside the site folder: left alone" in result.stderr


def test_a_page_symlinked_inside_is_filled_through_and_stays_a_link(layout: Path, invoke) -> None:
    drafts = layout / ".drafts"  # hidden: not a page of its own, reached only through the link
    drafts.mkdir()
    (drafts / "post.html").write_text('<img src="img/kite.png">', encoding="utf-8")
    (layout / "post.html").symlink_to(Path(".drafts") / "post.html")
    (layout / "index.html").write_text('<img src="img/kite.png">', encoding="utf-8")
    (layout / "home.html").symlink_to("index.html")  # the same page twice: filled once, at its own place
    result = invoke("apply-html", str(layout))
    assert result.exit_code == 0, result.output
    assert (layout / "post.html").is_symlink() and (layout / "home.html").is_symlink()
    assert os.readlink(layout / "post.html") == os.path.join(".drafts", "post.html")
    # Read where the link is (its links resolve from there, as a web server serves it), written to the target.
    assert (drafts / "post.html").read_text() == f'<img alt="{SITE_KITE}" src="img/kite.png">'
    assert (layout / "index.html").read_text() == f'<img alt="{SITE_KITE}" src="img/kite.png">'
    assert "home.html: note: a symlink to index.html: filled there" in result.stderr

"""alttext apply-html: only alt attributes change, every other byte of every page stays as it was."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import run_alttext
from planted import plant

from alttext.index.db import Index
from alttext.web.html_tags import iter_start_tags
from alttext.web.site_images import resolve_link, srcset_urls

pytestmark = pytest.mark.both_backends  # the tests on an index (``db``/``index``): SQLite and PostgreSQL

A, B, C = "A red kite over a green hill.", "Two sailboats racing on a grey sea.", "A plate of pancakes with berries."
D, E, F = "A cyclist on a mountain road.", "An old stone bridge over a river.", "A child flying a paper plane."
P = "A narrow street lined with café tables & \"umbrellas\"."

INDEX_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Home <img src="img/a.png"></title></head>
<body>
<!-- <img src="img/a.png"> in a comment stays -->
<script>var s = '<img src="img/a.png">';</script>
<img src="img/a.png">
<IMG SRC="/img/b.png" ALT="">
<img
   src = 'img/c.png'
   alt   class=photo>
<img src="img/a.png" alt="" role="presentation">
<img src="img/a.png" alt="" aria-hidden="true">
<img src="img/d.png" alt="Existing good description of the picture.">
<img src="img/e.png" alt="IMG_1234.png">
<img srcset="img/f.png 1x, img/f@2x.png 2x" class="hero">
<img src=img/d.png data-x=1 />
<img src="https://cdn.example.com/x.png">
<img src="img/unknown.png">
<img src="img/a.png"/><p>tail</p>
</body></html>
"""
POST_HTML = """<html><body>
<img src="../../img/a.png" width=10>
<img src='/img/b.png?v=3#top' alt=''>
<img src="photo%20one.png">
</body></html>"""
COPY_HTML = '<p><img src="assets/copy-of-c.png" alt="   "></p>\r\n'


@pytest.fixture
def site(index: Index, tmp_path: Path) -> Path:
    root = tmp_path / "site"
    plant(index, root / "img", {"a.png": A, "b.png": B, "c.png": C, "d.png": D, "e.png": E, "f.png": F})
    plant(index, root / "blog" / "2024", {"photo one.png": P}, start=10)
    (root / "blog" / "assets").mkdir()
    # An identical picture the index has never seen at this path: found by its pixels.
    shutil.copy(root / "img" / "c.png", root / "blog" / "assets" / "copy-of-c.png")
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "blog" / "2024" / "post.html").write_text(POST_HTML, encoding="utf-8")
    (root / "blog" / "copy.html").write_bytes(COPY_HTML.encode())
    (root / ".git").mkdir()
    (root / ".git" / "ignored.html").write_text('<img src="../img/a.png">')
    return root


def _pages(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.html"))}


def _alt(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;")


def test_fills_only_alt_attributes(site: Path, invoke) -> None:
    result = invoke("apply-html", str(site), "--fill-empty", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    expected_index = (INDEX_HTML
                      .replace('<img src="img/a.png">\n<IMG', f'<img alt="{A}" src="img/a.png">\n<IMG', 1)
                      .replace('<IMG SRC="/img/b.png" ALT="">', f'<IMG SRC="/img/b.png" ALT="{B}">')
                      .replace("   alt   class=photo>", f"   alt='{C}'   class=photo>")
                      .replace('<img srcset="img/f.png 1x', f'<img alt="{F}" srcset="img/f.png 1x')
                      .replace("<img src=img/d.png data-x=1 />", f'<img alt="{D}" src=img/d.png data-x=1 />')
                      .replace('<img src="img/a.png"/><p>', f'<img alt="{A}" src="img/a.png"/><p>'))
    expected_post = (POST_HTML
                     .replace('<img src="../../img/a.png"', f'<img alt="{A}" src="../../img/a.png"')
                     .replace("alt=''>", f"alt='{B}'>")
                     .replace('<img src="photo%20one.png">', f'<img alt="{_alt(P)}" src="photo%20one.png">'))
    expected_copy = COPY_HTML.replace('alt="   "', f'alt="{C}"')
    pages = _pages(site)
    assert pages["index.html"].decode() == expected_index
    assert pages["blog/2024/post.html"].decode() == expected_post
    assert pages["blog/copy.html"] == expected_copy.encode()  # CRLF kept
    assert pages[".git/ignored.html"] == b'<img src="../img/a.png">'
    totals = report["totals"]
    assert (totals["pages"], totals["pages_changed"], totals["filled"], totals["replaced"]) == (3, 3, 10, 0)
    assert (totals["decorative"], totals["kept"], totals["unresolved"], totals["empty"]) == (2, 2, 2, 0)
    matched = {change["src"]: change["matched_by"] for page in report["pages"] for change in page["changes"]}
    assert matched["assets/copy-of-c.png"] == "pixels" and matched["img/a.png"] == "path"


def test_empty_alt_is_left_alone_by_default_and_counted(site: Path, invoke) -> None:
    """alt="" marks a decorative picture on purpose: kept unless --fill-empty, and the summary says how many."""
    result = invoke("apply-html", str(site))
    assert result.exit_code == 0, result.output
    index_page = (site / "index.html").read_text()
    assert '<IMG SRC="/img/b.png" ALT="">' in index_page and "   alt   class=photo>" in index_page
    assert f'<img alt="{A}" src="img/a.png">\n<IMG' in index_page  # a missing alt is still filled
    assert "alt=''>" in (site / "blog" / "2024" / "post.html").read_text()
    assert (site / "blog" / "copy.html").read_bytes() == COPY_HTML.encode()  # alt="   " is empty too
    assert "empty alt kept 4 (--fill-empty fills them)" in result.stderr
    again = json.loads(invoke("apply-html", str(site), "--json").stdout)["totals"]
    assert (again["empty"], again["filled"], again["decorative"]) == (4, 0, 2)


def test_second_run_changes_nothing_and_replace_fixes_flagged_alt(site: Path, invoke) -> None:
    invoke("apply-html", str(site), "--fill-empty")
    before = _pages(site)
    again = json.loads(invoke("apply-html", str(site), "--fill-empty", "--json").stdout)
    assert again["totals"]["pages_changed"] == 0 and _pages(site) == before
    replaced = json.loads(invoke("apply-html", str(site), "--replace", "--json").stdout)
    assert replaced["totals"]["replaced"] == 1
    page = (site / "index.html").read_text()
    assert f'<img src="img/e.png" alt="{E}">' in page
    assert 'alt="Existing good description of the picture."' in page  # fine alt text is never replaced


def test_dry_run_changes_nothing_and_diff_shows_the_change(site: Path, invoke) -> None:
    before = _pages(site)
    stats = {path: path.stat().st_mtime_ns for path in site.rglob("*.html")}
    result = invoke("apply-html", str(site), "--dry-run", "--diff")
    assert result.exit_code == 0
    assert _pages(site) == before and {p: p.stat().st_mtime_ns for p in site.rglob("*.html")} == stats
    assert "--- a/index.html" in result.stdout and "+++ b/blog/2024/post.html" in result.stdout
    assert '-<img src="img/a.png">' in result.stdout and f'+<img alt="{A}" src="img/a.png">' in result.stdout
    assert "would change 2" in result.output  # blog/copy.html has only an empty alt, kept
    assert not [p for p in site.rglob("*") if "alttext-tmp" in p.name]


def test_default_keeps_empty_alt_and_reviewed_only(site: Path, invoke) -> None:
    report = json.loads(invoke("apply-html", str(site), "--reviewed-only", "--json").stdout)
    assert report["totals"]["filled"] == 0  # nothing is reviewed yet
    invoke("approve", str(site / "img" / "b.png"), str(site / "img" / "a.png"))
    report = json.loads(invoke("apply-html", str(site), "--only-missing", "--reviewed-only", "--json").stdout)
    sources = sorted(change["src"] for page in report["pages"] for change in page["changes"])
    assert sources == ["../../img/a.png", "img/a.png", "img/a.png"]  # b's tags all have alt="" already
    assert invoke("apply-html", str(site), "--only-missing", "--replace").exit_code == 2
    assert invoke("apply-html", str(site), "--only-missing", "--fill-empty").exit_code == 2


def test_site_root_and_non_utf8_pages(index: Index, tmp_path: Path, invoke) -> None:
    root = tmp_path / "www"
    plant(index, root / "static", {"x.png": "a café on a corner 🐕"}, start=20)
    pages = tmp_path / "pages"
    pages.mkdir()
    original = ('<meta charset="iso-8859-1"><p>Caf\xe9</p><img src="/static/x.png">'.encode("latin-1")
                + b"\xff\xfe raw bytes")
    (pages / "old.htm").write_bytes(original)
    result = invoke("apply-html", str(pages), "--site-root", str(root))
    assert result.exit_code == 0, result.output
    expected = original.replace(b'<img src="/static/x.png">',
                                b'<img alt="A caf\xe9 on a corner &#128021;." src="/static/x.png">')
    assert (pages / "old.htm").read_bytes() == expected


def test_apply_html_through_the_installed_command(site: Path, db: Path) -> None:
    before = _pages(site)
    dry = run_alttext("--db", str(db), "apply-html", str(site), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["totals"]["filled"] == 6 and _pages(site) == before  # 4 empty alts kept
    real = run_alttext("--db", str(db), "apply-html", str(site))
    assert real.returncode == 0, real.stderr
    assert f'<img alt="{A}" src="../../img/a.png" width=10>' in (site / "blog" / "2024" / "post.html").read_text()


def test_tokenizer_spans_and_raw_text() -> None:
    page = '<!--> <img src=a> --><SCRIPT>"<img src=b>"</SCRIPT ><img src="c" alt=\'x\'><textarea><img src=d></textarea>'
    tags = [tag for tag in iter_start_tags(page) if tag.name == "img"]
    assert [tag.get("src").value for tag in tags] == ["a", "c"]  # "<!-->" closes the comment at once
    alt = tags[1].get("alt")
    assert page[alt.value_start:alt.value_end] == "x" and alt.quote == "'"
    assert page[tags[1].start:tags[1].end] == '<img src="c" alt=\'x\'>'


def test_link_resolution(tmp_path: Path) -> None:
    page = str(tmp_path / "site" / "a" / "b" / "page.html")
    root = str(tmp_path / "site")
    assert resolve_link("../img/x.png", page, root) == os.path.join(root, "a", "img", "x.png")
    assert resolve_link("/img/x%20y.png?q#f", page, root) == os.path.join(root, "img", "x y.png")
    assert resolve_link("x.png", page, root, base="/static/") == os.path.join(root, "static", "x.png")
    for external in ("https://e.org/x.png", "//cdn/x.png", "data:image/png;base64,AAAA", "", "#top"):
        assert resolve_link(external, page, root) is None
    assert srcset_urls("a.png 1x, b,c.png 2x,d.png") == ["a.png", "b,c.png", "d.png"]

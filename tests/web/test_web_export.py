"""alttext export: every format parses back to exactly what the index holds, hostile captions included."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import run_alttext
from planted import plant

from alttext.index.db import Index
from alttext.index.review import edit
from alttext.web.export import defuse_cell, md_escape

pytestmark = pytest.mark.both_backends  # SQLite and PostgreSQL (tests/conftest.py)

HOSTILE = {
    "a-script.png": "<script>alert('x')</script> & <img src=x onerror=alert(1)>",
    "b-link.png": "Click [here](javascript:alert(1)) or ![x](http://evil/x.png) | pipe",
    "c-formula.png": "=cmd|' /C calc'!A0",
    "d-plus.png": "+1 555 0100 on a sign",
    "e-minus.png": "-5 degrees on a thermometer",
    "f-at.png": "@handle on a poster",
    "g-quotes.png": 'She said "hello" and \'goodbye\'',
    "h-emoji.png": "🐕 A dog 🏖️ on the beach, naïve café",
    "i-rtl.png": "كلب بني على الشاطئ \u202eevil\u202c",
    "j-tab.png": "\tTabbed start",
    "k-markdown.png": "*bold* _it_ `code` # not a heading <b>bold</b>",
}
EXPECTED_TEXT = {name: " ".join(value.split()) for name, value in HOSTILE.items()}  # edit collapses whitespace


@pytest.fixture
def hostile(index: Index, tmp_path: Path, invoke) -> Path:
    site = tmp_path / "site"
    plant(index, site, {f"img/{name}": "a plain model caption" for name in HOSTILE})
    for name, caption in HOSTILE.items():  # the library call: `alttext edit` itself is tested in test_web_review
        edit(index, str(site / "img" / name), caption)
    assert invoke("approve", str(site / "img" / "a-script.png")).exit_code == 0
    plant(index, tmp_path / "other", {"z.png": "a caption outside the site folder"}, start=40)
    return site


def _export(invoke, *args: str) -> str:
    result = invoke("export", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _by_name(rows: list[dict[str, str | None]]) -> dict[str, dict[str, str | None]]:
    return {Path(str(row["path"])).name: row for row in rows}


def test_json_and_jsonl_round_trip(hostile: Path, invoke) -> None:
    rows = json.loads(_export(invoke, "--format", "json", "--under", str(hostile)))
    lines = [json.loads(line) for line in _export(invoke, "--format", "jsonl", "--under", str(hostile)).splitlines()]
    assert rows == lines
    assert {name: row["alt_text"] for name, row in _by_name(rows).items()} == EXPECTED_TEXT
    first = rows[0]
    assert list(first) == ["path", "url", "alt_text", "status", "source", "model", "description", "image_text"]
    assert first["path"] == "img/a-script.png" and first["status"] == "approved" and first["source"] == "human"
    assert [row["path"] for row in rows] == sorted(row["path"] for row in rows)  # deterministic order


def test_csv_round_trips_and_defuses_formulas(hostile: Path, invoke) -> None:
    text = _export(invoke, "--format", "csv", "--under", str(hostile))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_name = _by_name(rows)
    for name, expected in EXPECTED_TEXT.items():
        cell = by_name[name]["alt_text"]
        if expected.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert cell == "'" + expected  # shown as text by spreadsheets
        else:
            assert cell == expected
    assert not any(str(cell).startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


class Cells(HTMLParser):
    """Table cells as text (entities decoded), every element seen, and the <img> attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str | None] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.cell = []
        elif tag == "img":
            self.images.append(dict(attrs))
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    @classmethod
    def of(cls, page: str) -> Cells:
        parser = cls()
        parser.feed(page)
        parser.close()
        parser.rows = [row for row in parser.rows if row]
        return parser


def test_html_is_inert_and_parses_back(hostile: Path, invoke) -> None:
    page = _export(invoke, "--format", "html", "--under", str(hostile), "--base-url", "https://example.org/media")
    parsed = Cells.of(page)
    assert "script" not in parsed.tags  # the caption's <script> is text, not an element
    assert parsed.tags.count("img") == len(HOSTILE)  # only ours, not the caption's onerror <img>
    assert {row[1].rsplit("/", 1)[-1]: row[2] for row in parsed.rows} == EXPECTED_TEXT
    assert {Path(str(image["src"])).name: image["alt"] for image in parsed.images} == EXPECTED_TEXT
    assert all(str(image["src"]).startswith("https://example.org/media/img/") for image in parsed.images)


def test_markdown_is_inert_and_renders_back_to_the_text(hostile: Path, invoke) -> None:
    document = _export(invoke, "--format", "md", "--under", str(hostile), "--base-url", "https://example.org/")
    assert "<script>" not in document and "](javascript:" not in document
    lines = document.splitlines()
    assert lines[0].startswith("| Path |") and len(lines) == 2 + len(HOSTILE)
    markdown_it = pytest.importorskip("markdown_it")
    rendered = Cells.of(markdown_it.MarkdownIt("commonmark").enable("table").render(document))
    assert {"script", "img", "b", "em", "strong", "code", "h1"}.isdisjoint(rendered.tags)
    assert all(str(link).startswith("https://example.org/img/") for link in rendered.links)
    assert len(rendered.links) == len(HOSTILE)  # the caption's [here](javascript:...) made no link
    assert {row[0].rsplit("/", 1)[-1]: row[1] for row in rendered.rows} == EXPECTED_TEXT


def test_filters_relative_paths_urls_and_output_file(hostile: Path, tmp_path: Path, invoke) -> None:
    approved = json.loads(_export(invoke, "--format", "json", "--status", "approved"))
    assert [Path(row["path"]).name for row in approved] == ["a-script.png"]
    everything = json.loads(_export(invoke, "--format", "json", "--relative-to", str(hostile),
                                    "--base-url", "https://example.org/a b/"))
    inside = [row for row in everything if row["url"]]
    outside = [row for row in everything if not row["url"]]
    assert inside[0]["url"] == "https://example.org/a%20b/img/a-script.png"
    assert [Path(row["path"]).name for row in outside] == ["z.png"] and Path(outside[0]["path"]).is_absolute()
    target = tmp_path / "out" / "alt.csv"
    target.parent.mkdir()
    assert invoke("export", "--format", "csv", "-o", str(target)).exit_code == 0
    assert target.read_bytes() == invoke("export", "--format", "csv").stdout_bytes  # deterministic, UTF-8
    assert not [p for p in target.parent.iterdir() if p.name != "alt.csv"]  # no temporary left behind
    assert invoke("export", "--base-url", "https://x/").exit_code == 2  # needs a folder to be relative to


def test_export_through_the_installed_command(hostile: Path, db: Path) -> None:
    result = run_alttext("--db", str(db), "export", "--format", "jsonl", "--under", str(hostile),
                         env={"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert _by_name(rows)["h-emoji.png"]["alt_text"] == EXPECTED_TEXT["h-emoji.png"]


def test_cell_and_markdown_helpers() -> None:
    assert defuse_cell("=1+1") == "'=1+1" and defuse_cell("fine") == "fine" and defuse_cell(None) == ""
    assert md_escape("a|b") == "a\\|b" and md_escape("<x>") == "&lt;x&gt;" and md_escape("line\nbreak") == "line break"

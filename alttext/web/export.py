"""Exporting alt text for websites and spreadsheets: CSV, JSON, JSON Lines, HTML and Markdown.

Captions are untrusted text (anyone can type an edit; metadata comes from the files), so every format
makes them inert: HTML and Markdown escape them, CSV defuses cells a spreadsheet would run as a
formula (OWASP "CSV injection": a leading = + - @ tab or CR gets a leading apostrophe), and no
control character or terminal escape reaches any format (text_safety: captions are cleaned, names
escaped; JSON keeps a name that isn't UTF-8 exactly, in ``path_bytes_b64``). The output is
UTF-8 and deterministic (path byte order, no timestamps), so a re-export of an unchanged index is
byte-identical and diffs well in version control.
"""

from __future__ import annotations

import csv
import html
import io
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

from alttext.index.db import Index
from alttext.index.selection import iter_entries
from alttext.text_safety import clean_text, escape_line, to_json

FORMATS = ("csv", "json", "jsonl", "html", "md")
# description and image_text last: columns a spreadsheet or script already reads keep their places.
FIELDS = ("path", "url", "alt_text", "status", "source", "model", "description", "image_text")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters Markdown (CommonMark + GFM tables) may read as syntax; each gets a backslash.
_MD_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|~:")
# A URL keeps its structure; anything else, including ( ) < > spaces and quotes, is percent-encoded.
_URL_SAFE = "/:?#@!$&*+,;=%~"


@dataclass(frozen=True)
class ExportRow:
    path: str  # as stored (a name that isn't UTF-8 holds surrogate escapes); see shown_path
    url: str | None
    alt_text: str
    status: str
    source: str
    model: str | None
    description: str | None = None  # the picture's long description (docs/architecture.md §13)
    image_text: str | None = None  # the text read in the picture (§15)

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def shown_path(self) -> str:
        """The path for a person (CSV, HTML, Markdown): valid UTF-8, control characters as visible escapes."""
        return escape_line(self.path)


def file_url(base_url: str, relative: str) -> str:
    base = quote(base_url, safe=_URL_SAFE)
    if not base.endswith("/"):
        base += "/"
    return base + quote(relative.replace(os.sep, "/"), safe="/", encoding="utf-8", errors="surrogateescape")


def export_rows(
    index: Index, *, under: str | None = None, status: str | None = None, relative_to: str | None = None,
    base_url: str | None = None,
) -> Iterator[ExportRow]:
    """Captioned present files below ``under`` in path order. Paths are made relative to ``relative_to``
    when they are inside it; ``base_url`` + that relative path gives the URL."""
    base = os.path.abspath(relative_to) if relative_to else None
    for entry in iter_entries(index, under=under, status=status, captioned_only=True, texts=True):
        shown, url = entry.path, None
        if base is not None:
            relative = os.path.relpath(entry.path, base)
            if not relative.startswith(os.pardir + os.sep) and relative != os.pardir:
                shown = relative
                if base_url:
                    url = file_url(base_url, posixpath.join(*relative.split(os.sep)))
        yield ExportRow(path=shown, url=url, alt_text=clean_text(entry.alt_text or ""), status=entry.status or "",
                        source=entry.source or "", model=clean_text(entry.model) if entry.model else None,
                        description=clean_text(entry.description) if entry.description else None,
                        image_text=clean_text(entry.image_text) if entry.image_text else None)


# -- CSV --------------------------------------------------------------------------------------------

def defuse_cell(value: str | None) -> str:
    """A cell that a spreadsheet would evaluate (=cmd|' /C calc'!A0) gets a leading apostrophe, which
    spreadsheets show as text and hide."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(rows: Iterable[ExportRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends, quoting only where needed
    writer.writerow(FIELDS)
    for row in rows:
        writer.writerow([defuse_cell(value) for value in {**row.as_dict(), "path": row.shown_path}.values()])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


# -- JSON -------------------------------------------------------------------------------------------

def render_json(rows: Iterable[ExportRow]) -> Iterator[str]:
    """A JSON array streamed one object per line, so a million rows never sit in memory together."""
    first = True
    yield "["
    for row in rows:
        yield ("\n  " if first else ",\n  ") + to_json(row.as_dict())
        first = False
    yield "\n]\n" if not first else "]\n"


def render_jsonl(rows: Iterable[ExportRow]) -> Iterator[str]:
    for row in rows:
        yield to_json(row.as_dict()) + "\n"


# -- HTML -------------------------------------------------------------------------------------------

def _e(value: str | None) -> str:
    return html.escape(value or "", quote=True)


HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Alt text</title>
<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em;text-align:left;vertical-align:top}\
img{max-width:160px;max-height:160px}</style>
</head>
<body>
<table>
<thead><tr><th>Image</th><th>Path</th><th>Alt text</th><th>Status</th><th>Source</th><th>Model</th>\
<th>Description</th><th>Text in image</th></tr></thead>
<tbody>
"""
HTML_TAIL = "</tbody>\n</table>\n</body>\n</html>\n"


def render_html(rows: Iterable[ExportRow]) -> Iterator[str]:
    """A reviewable page: each picture (when there is a URL) with its alt text. Everything from the
    index goes through html.escape, attributes included, so a caption can't open a tag or a script."""
    yield HTML_HEAD
    for row in rows:
        image = f'<img src="{_e(row.url)}" alt="{_e(row.alt_text)}" loading="lazy">' if row.url else ""
        path = f'<a href="{_e(row.url)}">{_e(row.shown_path)}</a>' if row.url else _e(row.shown_path)
        yield (f"<tr><td>{image}</td><td>{path}</td><td>{_e(row.alt_text)}</td><td>{_e(row.status)}</td>"
               f"<td>{_e(row.source)}</td><td>{_e(row.model)}</td><td>{_e(row.description)}</td>"
               f"<td>{_e(row.image_text)}</td></tr>\n")
    yield HTML_TAIL


# -- Markdown ---------------------------------------------------------------------------------------

def md_escape(value: str | None) -> str:
    """Text for a GFM table cell: one line, markup characters backslash-escaped, and < > & as entities
    so no raw HTML survives. '](javascript:...)' stays text: its brackets and parentheses are escaped."""
    if not value:
        return ""
    out = []
    for char in " ".join(value.split()):
        if char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == "&":
            out.append("&amp;")
        elif char in _MD_PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def render_md(rows: Iterable[ExportRow]) -> Iterator[str]:
    yield "| Path | Alt text | Status | Source | Model | Description | Text in image |\n|---|---|---|---|---|---|---|\n"
    for row in rows:
        # file_url percent-encoded the URL: no space, parenthesis or angle bracket can end the link early.
        path = f"[{md_escape(row.shown_path)}]({row.url})" if row.url else md_escape(row.shown_path)
        yield (f"| {path} | {md_escape(row.alt_text)} | {md_escape(row.status)} | {md_escape(row.source)}"
               f" | {md_escape(row.model)} | {md_escape(row.description)} | {md_escape(row.image_text)} |\n")


RENDERERS = {"csv": render_csv, "json": render_json, "jsonl": render_jsonl, "html": render_html, "md": render_md}


def render(fmt: str, rows: Iterable[ExportRow]) -> Iterator[str]:
    return RENDERERS[fmt](rows)

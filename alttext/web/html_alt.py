"""Filling ``alt`` attributes in a static site's pages, changing nothing else in the files.

For each ``<img>`` without alt text, the picture it shows is found (src, then srcset and the common
lazy-loading data-src/data-srcset) and, if the index has a caption for it, only the alt attribute is
written: the new attribute's text is spliced into the original bytes at the position the tokenizer
reported. Quotes, case, whitespace, entities, comments and scripts of the page are untouched, so the
diff of a page is exactly its new alt attributes.

An empty ``alt=""`` is left alone unless ``fill_empty`` is asked for: in HTML it is how a page says "this
picture is decorative, skip it", on purpose (counted as ``empty``, so a report can say how many). Even with
``fill_empty``, one whose ``role="presentation"``/``"none"`` or ``aria-hidden="true"`` says so twice stays.

Symlinks (README, "Symlinks"): nothing outside the site folder and the site root is read or written. An
image link that leads outside them finds no caption (counted as ``outside``). A page that is a symlink
stays a symlink: when its target is inside the site folder the target is filled (once, if it is also a
page of its own), otherwise the link is left alone with a note.
"""

from __future__ import annotations

import difflib
import html
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from alttext.atomic_write import write_atomically
from alttext.lint import ERROR, lint_alt
from alttext.web.html_tags import Attribute, StartTag, detect_charset, iter_start_tags
from alttext.web.site_images import CaptionLookup, inside, real_roots, resolve_link, srcset_urls

PAGE_EXTENSIONS = (".html", ".htm", ".xhtml", ".shtml")
# Where the picture's URL may be, in the order a browser (or a lazy-loading script) would use it.
SOURCE_ATTRIBUTES = ("src", "data-src")
SRCSET_ATTRIBUTES = ("srcset", "data-srcset")

FILL, REPLACE = "fill", "replace"


@dataclass
class ImageChange:
    line: int
    link: str
    action: str  # fill: alt was missing or empty; replace: alt was there but lint flags it
    old_alt: str | None
    new_alt: str
    matched_by: str  # "path" or "pixels"


@dataclass
class PageResult:
    path: str
    original: bytes
    updated: bytes
    charset: str = "utf-8"
    changes: list[ImageChange] = field(default_factory=list)
    images: int = 0
    decorative: int = 0
    empty: int = 0  # alt="" left alone: an author's mark for a decorative picture (fill_empty fills them)
    kept: int = 0  # already had alt text that is fine (or --replace not given)
    unresolved: int = 0  # no local file behind the link(s)
    uncaptioned: int = 0  # a local file the index has no (acceptable) caption for
    outside: int = 0  # the link(s) lead outside the site folder and site root: not looked at
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.updated != self.original

    def diff(self, label: str) -> str:
        before = self.original.decode(self.charset, "replace").splitlines(keepends=True)
        after = self.updated.decode(self.charset, "replace").splitlines(keepends=True)
        lines = difflib.unified_diff(before, after, fromfile=f"a/{label}", tofile=f"b/{label}")
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def iter_pages(site_dir: str) -> Iterator[str]:
    """HTML files below ``site_dir`` in a stable order, skipping hidden folders (.git and the like)."""
    for folder, subfolders, names in os.walk(site_dir):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(names):
            if name.lower().endswith(PAGE_EXTENSIONS) and not name.startswith("."):
                yield os.path.join(folder, name)


def _decode_value(raw: str | None, charset: str) -> str | None:
    """An attribute value as the browser sees it: the page's bytes in its charset, entities decoded."""
    if raw is None:
        return None
    return html.unescape(raw.encode("latin-1").decode(charset, "replace"))


def _encode_value(value: str, quote: str, charset: str) -> str:
    """Alt text as attribute text for this page: escaped for its quote, characters the page's charset
    can't hold as numeric references, returned in the page's latin-1 view (one char per byte)."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&quot;") if quote == '"' else escaped.replace("'", "&#39;")
    return escaped.encode(charset, "xmlcharrefreplace").decode("latin-1")


def _is_decorative(tag: StartTag, alt: str | None, charset: str) -> bool:
    if alt is None or alt.strip():
        return False
    role = (_decode_value((tag.get("role") or _NO).value, charset) or "").strip().lower()
    hidden = (_decode_value((tag.get("aria-hidden") or _NO).value, charset) or "").strip().lower()
    return role in ("presentation", "none") or hidden == "true"


_NO = Attribute("", "", None, 0, 0, 0, 0, "")


def _links(tag: StartTag, charset: str) -> list[str]:
    links = []
    for name in SOURCE_ATTRIBUTES:
        value = _decode_value((tag.get(name) or _NO).value, charset)
        if value and value.strip():
            links.append(value.strip())
    for name in SRCSET_ATTRIBUTES:
        value = _decode_value((tag.get(name) or _NO).value, charset)
        if value:
            links.extend(srcset_urls(value))
    return links


def _splice(tag: StartTag, alt: Attribute | None, new_alt: str, charset: str) -> tuple[int, int, str]:
    """(start, end, replacement) in the page text that sets the alt attribute and touches nothing else."""
    if alt is not None and alt.quote:  # alt="..." / alt='...': replace the value only
        return alt.value_start, alt.value_end, _encode_value(new_alt, alt.quote, charset)
    quoted = [attribute.quote for attribute in tag.attributes if attribute.quote]
    quote = "'" if quoted and all(q == "'" for q in quoted) else '"'
    value = quote + _encode_value(new_alt, quote, charset) + quote
    if alt is not None:  # alt, alt= or alt=unquoted: rewrite that attribute, keeping its name's case
        return alt.start, alt.end, f"{alt.raw_name}={value}"
    # Insert right after the tag name: the one place where a new attribute can't merge with an unquoted
    # value (before "/>" in <img src=a.jpg/> it would change src).
    name = "ALT" if tag.raw_name.isupper() else "alt"
    return tag.name_end, tag.name_end, f" {name}={value}"


def fill_page(
    data: bytes, page_path: str, site_root: str, lookup: CaptionLookup, *, fill_empty: bool = False,
    replace: bool = False, reviewed_only: bool = False, roots: tuple[str, ...] | None = None,
) -> PageResult:
    """The page with its alt attributes filled. Only image files inside ``roots`` (real paths; default:
    the site root) are looked up."""
    roots = roots if roots is not None else real_roots(site_root)
    result = PageResult(page_path, data, data)
    charset = detect_charset(data)
    result.charset = charset
    if charset.startswith("utf-16") or charset.startswith("utf-32"):
        result.charset = "utf-8"
        result.error = "UTF-16/32 pages are not supported (markup is not ASCII bytes)"
        return result
    text = data.decode("latin-1")
    tags = list(iter_start_tags(text))
    hrefs = (tag.get("href") for tag in tags if tag.name == "base")
    base = next((_decode_value(href.value, charset) for href in hrefs if href is not None and href.value is not None),
                None)
    edits: list[tuple[int, int, str]] = []
    for tag in tags:
        if tag.name != "img":
            continue
        result.images += 1
        alt_attribute = tag.get("alt")
        alt = _decode_value(alt_attribute.value, charset) if alt_attribute is not None else None
        if alt_attribute is not None and alt is None:
            alt = ""  # <img alt> is an empty alt
        if _is_decorative(tag, alt, charset):
            result.decorative += 1
            continue
        if alt_attribute is None or not (alt or "").strip():
            action = FILL
            if alt_attribute is not None and not fill_empty:
                result.empty += 1
                continue
        elif replace:
            action = REPLACE
        else:
            result.kept += 1
            continue
        caption = None
        resolved_any = outside_any = False
        for link in _links(tag, charset):
            path = resolve_link(link, page_path, site_root, base)
            if path is None:
                continue
            if not inside(path, roots):  # ../private/x.jpg, or a symlink out: never read, never published
                outside_any = True
                continue
            resolved_any = resolved_any or os.path.exists(path)
            caption = lookup.caption_for(path)
            if caption is not None:
                break
        if caption is None or (reviewed_only and not caption.reviewed) or not caption.alt_text.strip():
            if resolved_any:
                result.uncaptioned += 1
            elif outside_any:
                result.outside += 1
            else:
                result.unresolved += 1
            continue
        if action == REPLACE:
            problems = lint_alt(alt, file_name=os.path.basename(caption.image_path))
            if not any(problem.level == ERROR for problem in problems) or alt == caption.alt_text:
                result.kept += 1
                continue
        edits.append(_splice(tag, alt_attribute, caption.alt_text, charset))
        result.changes.append(ImageChange(
            line=text.count("\n", 0, tag.start) + 1, link=_links(tag, charset)[0], action=action, old_alt=alt,
            new_alt=caption.alt_text, matched_by=caption.matched_by,
        ))
    if edits:
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        result.updated = text.encode("latin-1")
    return result


@dataclass
class SitePage:
    """One page of a site after ``apply_to_site``: its result, or why it was skipped or not written."""

    label: str  # the page's path relative to the site folder
    result: PageResult | None = None
    skipped: str | None = None  # the page could not be processed as HTML (fill_page's reason)
    error: str | None = None  # it could not be read, or not written back
    notes: list[str] = field(default_factory=list)  # left alone on purpose (a symlink), not an error


@dataclass
class SiteTotals:
    pages: int = 0
    pages_changed: int = 0
    images: int = 0
    filled: int = 0
    replaced: int = 0
    decorative: int = 0
    empty: int = 0
    kept: int = 0
    unresolved: int = 0
    uncaptioned: int = 0
    outside: int = 0
    errors: int = 0

    def add(self, page: SitePage) -> None:
        self.pages += 1
        if page.error is not None or page.skipped is not None:
            self.errors += 1
        result = page.result
        if result is None or page.skipped is not None:
            return
        for key in ("images", "decorative", "empty", "kept", "unresolved", "uncaptioned", "outside"):
            setattr(self, key, getattr(self, key) + getattr(result, key))
        self.filled += sum(change.action == FILL for change in result.changes)
        self.replaced += sum(change.action == REPLACE for change in result.changes)
        self.pages_changed += result.changed


def apply_to_site(site_dir: str, lookup: CaptionLookup, *, site_root: str | None = None, fill_empty: bool = False,
                  replace: bool = False, reviewed_only: bool = False, dry_run: bool = False) -> Iterator[SitePage]:
    """Fill the alt attributes of every page below ``site_dir``, page by page; each changed page is
    replaced atomically (unless ``dry_run``), and only if nobody changed it while it was processed.
    Nothing outside ``site_dir`` and ``site_root`` is read or written (see the module's docstring)."""
    root = os.path.abspath(site_root or site_dir)
    roots = real_roots(site_dir, site_root)
    pages = list(iter_pages(site_dir))
    regular = {os.path.realpath(page) for page in pages if not os.path.islink(page)}
    done: dict[str, str] = {}  # real path -> the label it was filled under (a link and its target: once)
    for page in pages:
        label = os.path.relpath(page, site_dir)
        destination = os.path.realpath(page)
        if os.path.islink(page):
            note = _symlink_note(destination, roots[0], regular, done)
            if note is not None:
                yield SitePage(label, notes=[note])
                continue
        done[destination] = label
        try:
            before = os.stat(page)
            with open(page, "rb") as stream:
                data = stream.read()
        except OSError as exc:
            yield SitePage(label, error=exc.strerror or str(exc))
            continue
        result = fill_page(data, page, root, lookup, fill_empty=fill_empty, replace=replace,
                           reviewed_only=reviewed_only, roots=roots)
        if result.error:
            yield SitePage(label, result, skipped=result.error)
            continue
        if result.changed and not dry_run:
            try:
                after = os.stat(page)
                if (after.st_mtime_ns, after.st_size, after.st_ino) != (before.st_mtime_ns, before.st_size,
                                                                         before.st_ino):
                    raise OSError(0, "the page changed while it was processed; run again")
                write_atomically(destination, [result.updated])  # through a symlink: the link stays
            except OSError as exc:
                yield SitePage(label, result, error=exc.strerror or str(exc))
                continue
        yield SitePage(label, result)


def _symlink_note(target: str, real_site: str, regular: set[str], done: dict[str, str]) -> str | None:
    """Why a symlinked page is left alone, or None when it is filled through to its target."""
    if not inside(target, (real_site,)):
        return "a symlink to a page outside the site folder: left alone"
    if target in regular:
        return f"a symlink to {os.path.relpath(target, real_site)}: filled there"
    if target in done:
        return f"a symlink to the same page as {done[target]}: filled there"
    return None

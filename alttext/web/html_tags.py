"""Finding ``<img>`` start tags in an HTML page with the exact position of every attribute.

Why not html.parser or an HTML5 library: they give the parsed tree, not where each attribute sits in
the file, and writing the tree back re-serialises the whole page (quotes, case, whitespace, entities
all change). Filling alt text must change nothing but the alt attribute, so this module tokenizes the
way the HTML standard does for the parts that matter (comments, raw-text elements like <script>,
attribute quoting rules) and reports spans in the original text.

The page is decoded as latin-1, which maps every byte to one character: positions are byte offsets,
and slicing and re-encoding gives back the original bytes exactly, whatever the page's real encoding
(every encoding a web page may use puts ASCII markup at ASCII bytes, except UTF-16, which callers
skip). Attribute values are decoded with the page's real charset by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# Elements whose content is text, not markup: a "<img" inside them is not an image.
RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"})
_SPACE = " \t\n\f\r"
_TAG_NAME_END = re.compile(r"[\s/>]")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass
class Attribute:
    name: str  # lower-cased
    raw_name: str
    value: str | None  # raw (entities not decoded); None for a bare attribute like <img alt>
    start: int  # span of the whole attribute, name to end of value
    end: int
    value_start: int  # span of the value inside its quotes (== end when there is no value)
    value_end: int
    quote: str  # '"', "'" or "" (unquoted or no value)


@dataclass
class StartTag:
    name: str  # lower-cased
    raw_name: str
    start: int  # '<'
    end: int  # just after '>'
    name_end: int  # just after the tag name: where a new attribute can be inserted safely
    attributes: list[Attribute] = field(default_factory=list)

    def get(self, name: str) -> Attribute | None:
        """The first attribute of that name (a browser ignores later duplicates)."""
        return next((attribute for attribute in self.attributes if attribute.name == name), None)


def detect_charset(data: bytes) -> str:
    """The page's declared encoding: BOM, else <meta charset> in the first 1024 bytes, else UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    match = _CHARSET.search(data[:1024])
    if match:
        name = match.group(1).decode("ascii").lower()
        try:
            import codecs

            return codecs.lookup(name).name
        except LookupError:
            pass
    return "utf-8"


def _parse_attributes(text: str, position: int, tag: StartTag) -> int | None:
    """Attributes per the HTML tokenizer's states; returns the position after '>' (None at EOF)."""
    length = len(text)
    i = position
    while True:
        while i < length and (text[i] in _SPACE or text[i] == "/"):
            i += 1
        if i >= length:
            return None
        if text[i] == ">":
            return i + 1
        name_start = i
        i += 1  # the first character may be '=' (then it is part of the name)
        while i < length and text[i] not in _SPACE and text[i] not in "/>=":
            i += 1
        raw_name = text[name_start:i]
        end = i
        j = i
        while j < length and text[j] in _SPACE:
            j += 1
        value = None
        value_start = value_end = end
        quote = ""
        if j < length and text[j] == "=":
            j += 1
            while j < length and text[j] in _SPACE:
                j += 1
            if j >= length:
                return None
            if text[j] in "\"'":
                quote = text[j]
                close = text.find(quote, j + 1)
                if close < 0:
                    return None
                value_start, value_end = j + 1, close
                value = text[value_start:value_end]
                i = end = close + 1
            elif text[j] == ">":  # "alt=>": an empty unquoted value
                value = ""
                value_start = value_end = end = i = j
            else:
                k = j
                while k < length and text[k] not in _SPACE and text[k] != ">":
                    k += 1
                value_start, value_end = j, k
                value = text[j:k]
                i = end = k
        tag.attributes.append(Attribute(raw_name.lower(), raw_name, value, name_start, end, value_start,
                                        value_end, quote))


def _skip_raw_text(text: str, position: int, name: str) -> int:
    """End of a raw-text element's content: the next '</name' followed by space, '/' or '>'."""
    pattern = re.compile(r"</" + re.escape(name) + r"[\s/>]", re.IGNORECASE)
    match = pattern.search(text, position)
    return match.start() if match else len(text)


def iter_start_tags(text: str) -> Iterator[StartTag]:
    """Every start tag outside comments and raw-text elements, in document order."""
    length = len(text)
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0 or i + 1 >= length:
            return
        following = text[i + 1]
        if text.startswith("<!--", i):
            # "<!-->" and "<!--->" are complete (empty) comments per the standard.
            if text.startswith(">", i + 4):
                i += 5
                continue
            if text.startswith("->", i + 4):
                i += 6
                continue
            close = text.find("-->", i + 4)
            i = length if close < 0 else close + 3
            continue
        if following in "!?":  # doctype, CDATA, processing instruction: bogus comment up to '>'
            close = text.find(">", i + 2)
            i = length if close < 0 else close + 1
            continue
        if following == "/":
            if i + 2 < length and text[i + 2].isascii() and text[i + 2].isalpha():
                end_tag = StartTag("", "", i, i, i)
                tag_close = _parse_attributes(text, i + 2, end_tag)  # end tags can hold quoted '>' too
                i = length if tag_close is None else tag_close
            else:
                i += 2
            continue
        if not (following.isascii() and following.isalpha()):
            i += 1
            continue
        match = _TAG_NAME_END.search(text, i + 1)
        name_end = match.start() if match else length
        raw_name = text[i + 1 : name_end]
        tag = StartTag(raw_name.lower(), raw_name, i, i, name_end)
        tag_close = _parse_attributes(text, name_end, tag)
        if tag_close is None:  # a tag cut off by the end of the file is no tag
            return
        tag.end = tag_close
        yield tag
        i = tag_close
        if tag.name == "plaintext":
            return
        if tag.name in RAW_TEXT:
            i = _skip_raw_text(text, i, tag.name)


def base_href(text: str) -> str | None:
    """The first <base href>, which changes what relative links on the page mean."""
    for tag in iter_start_tags(text):
        if tag.name == "base":
            attribute = tag.get("href")
            if attribute is not None and attribute.value is not None:
                return attribute.value
    return None

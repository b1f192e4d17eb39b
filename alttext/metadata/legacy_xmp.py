"""XMP packets that libexiv2 may not rewrite without loss, refused where exiftool cannot check a rewrite.

- Packets in UTF-16 or UTF-32, which the XMP specification allows and old Adobe software wrote:
  libexiv2 cannot parse little-endian ones at all (it sees no XMP and would replace the packet) and
  writes UTF-8 back in any case.
- The pre-2004 RDF form ``<rdf:Description about="...">`` (no ``rdf:`` prefix): the XMP toolkit turns
  the ``about`` URI into ``xmpMM:InstanceID`` and drops it.

With exiftool installed such files are rewritten only when exiftool sees nothing but the intended
change (:func:`alttext.metadata.verify.check_independent`); without it they are left alone.
"""

from __future__ import annotations

import re

# "xmpmeta" and "rdf:RDF" in UTF-16 and UTF-32, less the edge bytes that tell little from big endian
# (b"\0m\0p\0m\0e\0t\0a" is inside both), so that one search per marker and width covers both orders.
_WIDE = {
    marker.encode(encoding)[pad:-pad]: name
    for marker in ("xmpmeta", "rdf:RDF")
    for encoding, pad, name in (("utf-16-le", 1, "UTF-16"), ("utf-32-le", 3, "UTF-32"))
}
_PREFIX_BEFORE = re.compile(rb"<[A-Za-z_][\w.-]*\Z")  # "<rdf" right before ":Description"
_BARE_ABOUT = re.compile(rb"\sabout\s*=")
_TAG_LIMIT = 64 * 1024  # an rdf:Description start tag holding simple properties as attributes


def obstacle(data: bytes) -> str | None:
    """Why the XMP in ``data`` (a whole image or sidecar) should not be rewritten without a check, or None."""
    for marker, encoding in _WIDE.items():
        if marker in data:
            return f"the file's XMP packet is in {encoding}"
    at = data.find(b":Description")
    while at != -1:  # bytes.find, not a regex over the whole file: photos are large
        start = at + len(b":Description")
        end = data.find(b">", start, start + _TAG_LIMIT)
        if _PREFIX_BEFORE.search(data[max(0, at - 64) : at]) and end != -1 and _BARE_ABOUT.search(data, start, end):
            return "the file's XMP uses the old about= form"
        at = data.find(b":Description", start)
    return None

"""Photo addresses: ``/photo/3f9a1c2b-42`` is file 42 of the index whose id starts ``3f9a1c2b``.

Every index numbers its files from 1, so a bare ``/photo/42`` would be a different photo in each library:
a bookmark, a stale tab or a link pasted from another library's app would show (and an old form would
change) somebody else's photo 42. With the index's id in the address such a request is refused (404)
instead. The id is not a secret (the token guards the app); 8 hex digits are enough to tell indexes apart.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException

PREFIX_DIGITS = 8
MAX_FILE_ID = 2**63 - 1
_REF = re.compile(r"([0-9a-f]{8})-([1-9][0-9]{0,18})")
UNKNOWN = "No such photo."
ELSEWHERE = ("No such photo in this library: this address belongs to another alttext index (another library,"
             " or an index made anew since).")


class PhotoRefs:
    """Turns file ids into this index's photo references and back."""

    def __init__(self, index_uid: str) -> None:
        self.prefix = index_uid[:PREFIX_DIGITS].lower()

    def ref(self, file_id: int) -> str:
        return f"{self.prefix}-{file_id}"

    def file_id(self, ref: str) -> int:
        """The file id in ``ref``; 404 for anything malformed, out of range, or from another index."""
        match = _REF.fullmatch(ref)
        if match is None or int(match.group(2)) > MAX_FILE_ID:
            raise HTTPException(404, UNKNOWN)
        if match.group(1) != self.prefix:
            raise HTTPException(404, ELSEWHERE)
        return int(match.group(2))

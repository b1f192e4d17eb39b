"""When a photo was taken: EXIF DateTimeOriginal, else DateTimeDigitized (exiftool's CreateDate), read
from the file's header only (Pillow parses the EXIF segment on ``Image.open``; no pixel is decoded).

The value is the camera's wall-clock time, as the photographer saw it; EXIF rarely says the time zone,
and "photos from June 2023" means the local June. The file's mtime is never used: a copy or an edit
changes it, so it would date photos silently wrong. A file without the tags has no capture date.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from PIL import Image

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
DATE_TIME_DIGITIZED = 0x9004
NO_DATE = ""  # read, and the file has none
_EXIF_DATE = re.compile(r"\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def parse_exif_date(value: object) -> str | None:
    """An EXIF date ("2023:06:14 10:31:05") as ISO "2023-06-14T10:31:05"; None when it isn't a real date
    (blank, "0000:00:00 00:00:00", garbage)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not (match := _EXIF_DATE.match(value)):
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second).isoformat()
    except ValueError:
        return None


def read_capture_date(path: str | os.PathLike[str]) -> str:
    """The capture date as "YYYY-MM-DDTHH:MM:SS", or NO_DATE when the file has none or can't be read
    (its pixels are what matter; a bad header is the decoder's business, reported there)."""
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(EXIF_IFD)
    except Exception:  # any reader failure: the file just has no date for us
        return NO_DATE
    for tag in (DATE_TIME_ORIGINAL, DATE_TIME_DIGITIZED):
        if (date := parse_exif_date(exif.get(tag))) is not None:
            return date
    return NO_DATE

"""Downloading images from http(s) URLs with the checks a batch job needs.

Timeouts, a size cap enforced while streaming (a lying or missing Content-Length can't exhaust memory),
an image content type, and no schemes other than http and https.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from alttext import __version__
from alttext.images import ImageError

ALLOWED_TYPES_PREFIX = "image/"
USER_AGENT = f"alttext/{__version__} (+image captioning)"


def is_url(text: str) -> bool:
    return urlsplit(text).scheme.lower() in ("http", "https")


def fetch_image_bytes(url: str, *, timeout: float = 20.0, max_bytes: int = 50 * 1024 * 1024) -> bytes:
    """The body of ``url`` if it is an image no larger than ``max_bytes``; ImageError otherwise."""
    if not is_url(url):
        raise ImageError("only http and https URLs are supported")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if not content_type.startswith(ALLOWED_TYPES_PREFIX):
                raise ImageError(f"URL did not return an image (Content-Type {content_type or 'missing'})")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ImageError(f"image is larger than the {max_bytes} byte limit ({declared} bytes)")
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise ImageError(f"image is larger than the {max_bytes} byte limit")
            return body
    except ImageError:
        raise
    except urllib.error.HTTPError as exc:
        raise ImageError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise ImageError(f"download timed out after {timeout:g} s") from exc
        raise ImageError(f"cannot download: {reason}") from exc
    except TimeoutError as exc:
        raise ImageError(f"download timed out after {timeout:g} s") from exc
    except OSError as exc:
        raise ImageError(f"cannot download: {exc}") from exc

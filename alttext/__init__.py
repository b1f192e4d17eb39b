"""alttext: accessible alt text for photo libraries, from local vision models.

The front door is :class:`alttext.Library`::

    from alttext import Library

    with Library("photos.sqlite3") as library:
        library.scan(["~/Pictures"])
        for hit in library.search("dog on a beach"):
            print(hit.path, hit.alt_text)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from alttext.library import Library


def __getattr__(name: str) -> Any:
    # Lazy, so `import alttext` (and the CLI's start-up) stays cheap.
    if name == "Library":
        from alttext.library import Library

        return Library
    raise AttributeError(f"module 'alttext' has no attribute {name!r}")


__all__ = ["Library", "__version__"]

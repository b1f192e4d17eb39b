"""The front door: ``from alttext import Library``.

Everything a face (the command line, a web app, a script) needs is importable from here, so faces never
reach into the layers below: the class, its result types, the errors it raises, and the vocabulary of
settings and statuses. Importing this package is cheap; the layers load when a method needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alttext.config import DEVICE_HELP, SPECS, ConfigError, Settings, config_path, load_settings, parse_device
from alttext.library.core import Library
from alttext.library.db_copy import CopiedTable, CopyRefused, copy_index
from alttext.library.results import (
    BrowsePage,
    CaptionResult,
    EmbedRun,
    PhotoCard,
    PhotoUnavailable,
    Progress,
    ScanResult,
    SearchMode,
    SearchResults,
    SearchUnavailable,
    VariantsItem,
    VariantsReport,
    same_picture_note,
)
from alttext.paths import display_path
from alttext.redact import redact
from alttext.text_safety import escape_line, has_controls, to_json
from alttext.vocabulary import (
    EMBED_FIELDS,
    EXPORT_FORMATS,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    PRECISION_CHOICES,
    QUANTIZE_CHOICES,
    REVIEW_STATUSES,
)

if TYPE_CHECKING:
    from alttext.captioning.factory import ModelSettingsError
    from alttext.captioning.loading import ModelLoadError
    from alttext.index.db import IndexMissing, IndexUnavailable
    from alttext.index.review import Change, ReviewError, ReviewItem
    from alttext.index.writeback import EmbedSettingsError
    from alttext.variants.errors import MissingCredentials
    from alttext.web.html_alt import SiteTotals


# Errors from the layers below, importable here without importing those layers now.
_LAZY = {
    "ModelLoadError": "alttext.captioning.loading",
    "ModelSettingsError": "alttext.captioning.factory",
    "EmbedSettingsError": "alttext.index.writeback",
    "IndexMissing": "alttext.index.db",
    "IndexUnavailable": "alttext.index.db",
    "ReviewError": "alttext.index.review",
    "Change": "alttext.index.review",
    "ReviewItem": "alttext.index.review",
    "MissingCredentials": "alttext.variants.errors",
    "SiteTotals": "alttext.web.html_alt",
    "VariantError": "alttext.variants.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alttext.library' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEVICE_HELP",
    "EMBED_FIELDS",
    "EXPORT_FORMATS",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "PRECISION_CHOICES",
    "QUANTIZE_CHOICES",
    "REVIEW_STATUSES",
    "SPECS",
    "BrowsePage",
    "CaptionResult",
    "Change",
    "ConfigError",
    "CopiedTable",
    "CopyRefused",
    "EmbedRun",
    "EmbedSettingsError",
    "IndexMissing",
    "IndexUnavailable",
    "Library",
    "MissingCredentials",
    "ModelLoadError",
    "ModelSettingsError",
    "PhotoCard",
    "PhotoUnavailable",
    "Progress",
    "ReviewError",
    "ReviewItem",
    "ScanResult",
    "SearchMode",
    "SearchResults",
    "SearchUnavailable",
    "Settings",
    "SiteTotals",
    "VariantsItem",
    "VariantsReport",
    "config_path",
    "copy_index",
    "display_path",
    "escape_line",
    "has_controls",
    "load_settings",
    "parse_device",
    "redact",
    "same_picture_note",
    "to_json",
]

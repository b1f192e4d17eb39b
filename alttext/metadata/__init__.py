"""Reading and writing alt text in photos' own metadata (docs/architecture.md §4).

Public API::

    read_descriptions(path) -> ExistingText       # what the photo (and its sidecars) already say
    pick_caption(existing, lang="en") -> Candidate | None   # the text to import as a caption
    embed(path, alt_text, *, lang="en", fields={"alt"}, force=False, human_approved=False,
          sidecar=None, sidecar_name="ext.xmp", backup=False, keep_mtime=True,
          dry_run=False) -> EmbedResult
    clean_stale_temp_files(folder) -> list[str]   # temp files of killed runs (embed does it too)
    is_temp_name(name) -> bool                    # for the folder watcher: ".NAME.alttext-tmp-XXXXXXXX"

Modules: ``writer`` (embed), ``reading``, ``policy`` (who may overwrite what), ``atomic`` (snapshot, temp
file, replace), ``verify``, ``exiv2io``/``exiv2_thread`` (all libexiv2 calls, on one thread), ``exiftool``
(HEIC/AVIF, and the independent reader that checks every rewrite), ``legacy_xmp`` (packets libexiv2
cannot rewrite whole), ``container``, ``formats``, ``png``/``jpeg``/``photoshop`` (format fix-ups), ``pixels``,
``boilerplate``, ``fields``, ``results``.

All functions are safe to call from any thread: every libexiv2 call runs on one dedicated thread.
"""

from alttext.metadata.atomic import BACKUP_SUFFIX, TEMP_MARKER, clean_stale_temp_files, is_temp_name
from alttext.metadata.boilerplate import is_boilerplate
from alttext.metadata.fields import (
    ALL_FIELDS,
    ALTTEXT_NS,
    MAX_TEXT_BYTES,
)
from alttext.metadata.policy import FieldOutcome
from alttext.metadata.reading import (
    Candidate,
    ExistingText,
    FoundText,
    TextSet,
    pick_caption,
    pick_description,
    read_descriptions,
)
from alttext.metadata.results import EmbedResult, FileStat, Status, Where
from alttext.metadata.writer import embed

__all__ = [
    "ALL_FIELDS",
    "ALTTEXT_NS",
    "BACKUP_SUFFIX",
    "MAX_TEXT_BYTES",
    "TEMP_MARKER",
    "Candidate",
    "EmbedResult",
    "ExistingText",
    "FieldOutcome",
    "FileStat",
    "FoundText",
    "Status",
    "TextSet",
    "Where",
    "clean_stale_temp_files",
    "embed",
    "is_boilerplate",
    "is_temp_name",
    "pick_caption",
    "pick_description",
    "read_descriptions",
]

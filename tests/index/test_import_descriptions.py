"""A person's long description already in a photo (ExtDescrAccessibility) is read at ingest as the alt text
is (docs/architecture.md §4): beside a person's alt text it goes into the imported caption; alone, it is the
description of the model's caption (human text wins), and a later embed leaves it as it is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from web.planted import PlantedCaptioner, colour, write_image

from alttext.index.db import Index
from alttext.index.queries import describe_file
from alttext.index.scan import scan
from alttext.index.writeback import EmbedOptions, embed_queue, embed_targets, existing_caption_reader, write_roots
from alttext.search.fts import search

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="a person's text is put in with exiftool")

PERSONS = "Grandma's garden in June, the roses by the shed in full bloom and the old bench under the apple tree."


def _exiftool(path: Path, *tags: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *tags, str(path)], check=True)


def test_a_persons_description_is_imported_with_or_without_their_alt_text(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    write_image(root / "both.png", 0)
    write_image(root / "only.png", 1)
    write_image(root / "none.png", 2)
    _exiftool(root / "both.png", "-XMP-iptcCore:AltTextAccessibility=Grandma's garden",
              f"-XMP-iptcCore:ExtDescrAccessibility={PERSONS}")
    _exiftool(root / "only.png", f"-XMP-iptcCore:ExtDescrAccessibility={PERSONS}")
    captioner = PlantedCaptioner({colour(i): f"a square number {i}" for i in range(3)})
    summary = scan(index, [str(root)], lambda: captioner, max_pixels=10_000_000,
                   read_existing=existing_caption_reader("en"))
    assert (summary.imported, summary.captioned) == (1, 2)
    both, only, none = (describe_file(index, str(root / name)) for name in ("both.png", "only.png", "none.png"))
    assert both is not None and only is not None and none is not None
    assert (both["source"], both["alt_text"], both["description"]) == ("metadata", "Grandma's garden.", PERSONS)
    assert (only["source"], only["alt_text"], only["description"]) == ("model", "A square number 1.", PERSONS)
    assert only["params"]["description_from"] == "metadata"
    assert none["description"] is None and "description_from" not in (none["params"] or {})
    assert sorted(Path(hit.path).name for hit in search(index, "roses bench")) == ["both.png", "only.png"]
    # embed with the description field: the person's description is already there; alttext only adds its
    # language entry (exiftool wrote x-default alone) and does not claim the text as its own
    options = EmbedOptions(fields=frozenset({"alt", "extdescr"}))
    results = {Path(target.path).name: result for target, result in
               embed_targets(index, embed_queue(index), options, within=write_roots(index, None))}
    assert sorted(results) == ["none.png", "only.png"]  # imported text is in its file already
    outcomes = {outcome.field: (outcome.action, outcome.claim) for outcome in results["only.png"].fields}
    assert outcomes == {"alt": ("write", True), "extdescr": ("write", False)}
    assert describe_file(index, str(root / "only.png"))["description"] == PERSONS  # type: ignore[index]

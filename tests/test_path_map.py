"""The worker's path map (alttext.paths.PathMap, docs/architecture.md §16)."""

from __future__ import annotations

import pytest

from alttext.paths import PathMap


def test_the_longest_matching_folder_wins_by_whole_components() -> None:
    paths = PathMap("/srv/photos=/mnt/photos; /srv/photos/2024=/fast/2024")
    assert paths.local("/srv/photos/a.jpg") == "/mnt/photos/a.jpg"
    assert paths.local("/srv/photos/2024/b.jpg") == "/fast/2024/b.jpg"
    assert paths.local("/srv/photos2/c.jpg") == "/srv/photos2/c.jpg"  # not inside /srv/photos
    assert paths.local("/elsewhere/d.jpg") == "/elsewhere/d.jpg"
    assert not PathMap(None) and not PathMap("")


@pytest.mark.parametrize("spec", ["/srv/photos", "relative=/mnt", "/srv=relative"])
def test_a_malformed_entry_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="path map"):
        PathMap(spec)

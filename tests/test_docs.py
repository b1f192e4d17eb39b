"""The docs stay true: every command and every setting is documented, the settings table's defaults are
the real ones, and the README's Python example runs."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from fixtures.shapes import BACKGROUNDS, COLOURS
from PIL import Image, ImageDraw

from alttext.cli import COMMANDS
from alttext.config import SPECS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = README + "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def settings_table(markdown: str) -> dict[str, str]:
    """name -> default cell of the README's settings table (rows like "| `name` | default | meaning |")."""
    return dict(re.findall(r"^\| `([a-z_]+)` \| ([^|]*?) \| [^|]*\|$", markdown, flags=re.MULTILINE))


def test_every_command_is_documented() -> None:
    missing = [name for name in sorted(COMMANDS) if f"alttext {name}" not in DOCS]
    assert not missing, f"commands missing from README.md and docs/ (as `alttext NAME`): {missing}"


def test_every_setting_is_documented() -> None:
    missing = [spec.name for spec in SPECS if f"`{spec.name}`" not in DOCS]
    assert not missing, f"settings missing from README.md and docs/: {missing}"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_settings_table_is_complete_and_its_defaults_are_true() -> None:
    table = settings_table(README)
    assert list(table) == [spec.name for spec in SPECS], "README's settings table: one row per setting, in order"
    for spec in SPECS:
        if spec.default is None:
            continue  # computed or "the model's": described in words
        written = re.match(r"`([^`]*)`", table[spec.name])
        assert written and written.group(1) == _shown(spec.default), (spec.name, table[spec.name], spec.default)


def _picture(path: Path, colour: str, background: str) -> None:
    image = Image.new("RGB", (160, 128), BACKGROUNDS[background])
    ImageDraw.Draw(image).ellipse((52, 36, 108, 92), fill=COLOURS[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=92)


def test_the_readme_python_example_runs(tmp_path: Path, shapes_model: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(README)
    assert blocks, "README.md should show `from alttext import Library` in a ```python block"
    assert any("from alttext import Library" in block for block in blocks)
    for block in blocks:
        assert len(block.strip().splitlines()) <= 15, "keep the README's Python short"

    pictures = Path.home() / "Pictures"  # HOME is the test's own (conftest)
    _picture(pictures / "IMG_0042.jpg", "red", "white")
    _picture(pictures / "2024" / "blue.jpg", "blue", "black")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("ALTTEXT_MODEL", str(shapes_model))  # the example names no model: settings do

    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)

    assert "2 captioned, 0 failed" in capsys.readouterr().out
    assert (work / "photos.sqlite3").is_file()
    rows = {Path(row["path"]).name: row for row in csv.DictReader((work / "alt.csv").open(encoding="utf-8"))}
    assert set(rows) == {"IMG_0042.jpg", "blue.jpg"}
    assert rows["IMG_0042.jpg"]["alt_text"] == "Two kids flying a red kite on a windy beach."
    assert rows["IMG_0042.jpg"]["source"] == "human"
    assert rows["blue.jpg"]["alt_text"] == "A blue circle on a black background."

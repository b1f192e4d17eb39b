"""Start-up of the everyday read commands: importing the command line, and a ``status`` or ``search`` on
an index already at the newest migration, don't import Alembic (0.1-0.2 s), and none of them imports
SQLAlchemy's ORM (~50 ms: the tables are Core ``Table`` objects, docs/architecture.md §6). Timings are in
bench/startup_bench.py; this is the deterministic guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from alttext.cli import main
sys.argv = ["alttext", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": sorted(m for m in ("alembic", "torch", "transformers", "PIL")
                                                if m in sys.modules), "orm": "sqlalchemy.orm" in sys.modules}))
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


def test_status_on_an_index_at_the_head_imports_no_alembic(tmp_path: Path) -> None:
    from alttext.index.db import Index

    db = tmp_path / "index.sqlite3"
    Index(db).close()  # created (this one runs the migrations)
    outcome = _run("--db", str(db), "status", "--json")
    assert outcome["code"] == 0 and outcome["heavy"] == []
    outcome = _run("--db", str(db), "show", str(tmp_path / "never-scanned.jpg"))
    assert outcome["code"] == 1 and outcome["heavy"] == []  # "not in the index", after opening it
    outcome = _run("--db", str(db), "search", "--fts", "anything")
    assert outcome == {"code": 0, "heavy": [], "orm": False}  # word search: SQL text only, no ORM models
    outcome = _run("--db", str(db), "search", "anything")  # the default (fused when vectors exist)
    assert outcome["heavy"] == [] and outcome["orm"] is False


def test_status_and_show_import_no_orm(tmp_path: Path) -> None:
    """index/models.py declares Core tables: reading the index (status, show) needs no sqlalchemy.orm."""
    from alttext.index.db import Index

    db = tmp_path / "index.sqlite3"
    Index(db).close()
    assert _run("--db", str(db), "status")["orm"] is False
    assert _run("--db", str(db), "show", str(tmp_path / "never-scanned.jpg"))["orm"] is False

"""The schema comes only from Alembic migrations, from a checkout and from an installed wheel."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from alttext.index.db import Index, migrations_dir

REPO = Path(__file__).resolve().parent.parent
FTS_TRIGGERS = {"files_fts_insert", "files_fts_delete", "files_fts_update", "images_fts_caption",
                "captions_fts_text"}


def _schema(path: Path) -> tuple[set[str], set[str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
    return {name for kind, name in rows if kind == "table"}, {name for kind, name in rows if kind == "trigger"}


def test_alembic_upgrade_head_from_an_empty_file_creates_tables_and_fts_triggers(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    db.touch()
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO / "migrations" / "alembic.ini"), "-x", f"db={db}",
         "upgrade", "head"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    tables, triggers = _schema(db)
    assert {"files", "images", "captions", "variants", "jobs", "roots", "search_fts"} <= tables
    assert triggers >= FTS_TRIGGERS


def test_index_open_migrates_and_settings_are_applied(tmp_path: Path) -> None:
    with Index(tmp_path / "new" / "index.sqlite3") as index:
        tables, triggers = _schema(Path(index.path))
        assert "search_fts" in tables and triggers >= FTS_TRIGGERS
        with index.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert index.integrity_check() == "ok"
    with Index(tmp_path / "new" / "index.sqlite3") as again:  # second open: already at head
        assert again.integrity_check() == "ok"


def test_downgrade_base_then_upgrade_round_trips(tmp_path: Path) -> None:
    db = tmp_path / "round.sqlite3"
    ini = str(REPO / "migrations" / "alembic.ini")
    for step in ("upgrade", "downgrade", "upgrade"):
        target = "head" if step == "upgrade" else "base"
        result = subprocess.run([sys.executable, "-m", "alembic", "-c", ini, "-x", f"db={db}", step, target],
                                capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert _schema(db)[1] >= FTS_TRIGGERS


def test_migrations_ship_inside_the_wheel_and_work_from_it(tmp_path: Path) -> None:
    """Build the wheel, unpack it, and open an index with only the unpacked copy on the path."""
    # From a copy without build outputs: setuptools reuses ./build, where a renamed migration's old
    # file would linger and give Alembic two heads.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "results"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(source)],
        capture_output=True, text=True,
    )
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    [wheel] = tmp_path.glob("alttext-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert "alttext/migrations/env.py" in names
    assert any(name.startswith("alttext/migrations/versions/0001_") for name in names)
    db = tmp_path / "from-wheel.sqlite3"
    probe = (
        "import alttext, alttext.index.db as d; from alttext.index.db import Index;"
        f"Index({str(db)!r}).close(); print(alttext.__file__); print(d.migrations_dir())"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 0, result.stderr
    package_file, migrations = result.stdout.strip().splitlines()
    assert package_file.startswith(str(tmp_path / "site"))  # really the wheel's copy
    assert migrations.startswith(str(tmp_path / "site"))
    assert _schema(db)[1] >= FTS_TRIGGERS


def test_packages_list_covers_every_subpackage() -> None:
    """pyproject lists packages explicitly (for the migrations mapping): a new subpackage must be added."""
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "alttext").rglob("__init__.py")
    }
    assert found <= declared, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - declared)}"
    assert migrations_dir().joinpath("versions").is_dir()


# What a fresh index differs in from index/models.py, on purpose (each since the first migrations):
KNOWN_SCHEMA_DIFFERENCES = {
    # 0002 creates caption_embeddings in SQL, its foreign key unnamed; the declared one carries the
    # naming convention's name. Same columns, same ON DELETE CASCADE.
    ("remove_fk", "caption_embeddings", ("caption_id",), None),
    ("add_fk", "caption_embeddings", ("caption_id",), "fk_caption_embeddings_caption_id_captions"),
    # images.caption_id -> captions.id closes a cycle; SQLite can't add that foreign key afterwards (0001).
    ("add_fk", "images", ("caption_id",), "fk_images_caption_id_captions"),
    # The migrations give these a server default of 0 (for rows that existed when they were added); the
    # declared columns have the same default on the Python side.
    ("modify_default", "files", "attempts", None),
    ("modify_default", "jobs", "attempts", None),
}


def _schema_differences(connection: object) -> set[tuple[object, ...]]:
    """Alembic's autogenerate comparison of the database against index/models.py's MetaData (types and
    server defaults compared too), as hashable summaries; FTS5's own tables (not declared) left out."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from alttext.index.models import metadata

    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    summary: set[tuple[object, ...]] = set()
    for difference in compare_metadata(context, metadata):
        for change in difference if isinstance(difference, list) else [difference]:
            kind = change[0]
            if kind in {"add_table", "remove_table"}:
                if not change[1].name.startswith("search_fts"):
                    summary.add((kind, change[1].name))
            elif kind in {"add_index", "remove_index"}:
                summary.add((kind, change[1].table.name, change[1].name))
            elif kind in {"add_fk", "remove_fk"}:
                summary.add((kind, change[1].table.name, tuple(change[1].column_keys), change[1].name))
            elif kind in {"add_column", "remove_column"}:
                summary.add((kind, change[2], change[3].name))
            elif kind.startswith("modify_"):
                summary.add((kind, change[2], change[3], None))
            else:
                summary.add((kind, repr(change[1:])))
    return summary


def test_the_declared_tables_are_exactly_what_the_migrations_make(tmp_path: Path) -> None:
    """index/models.py declares the whole schema (FTS5's own tables apart): every table, column (type,
    nullability), index, unique and foreign key that the migrations create, and nothing more; the few
    deliberate differences are listed above, so a new one fails."""
    with Index(tmp_path / "index.sqlite3") as index, index.writer.connect() as connection:
        assert _schema_differences(connection) == KNOWN_SCHEMA_DIFFERENCES


def _index_before_0006(db: Path, photos: list[Path]) -> dict[str, str]:
    """An index as the code before migration 0006 left it: schema at 0004, images keyed by the hash of
    their decoded pixels (the same ``pixel_hash`` that code used), each with a model caption. Returns the
    caption of each path."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, insert, text

    from alttext.images import open_image
    from alttext.index.fingerprint import pixel_hash
    from alttext.index.models import INDEXED, SOURCE_MODEL, files, images, roots, utcnow

    engine = create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    captions: dict[str, str] = {}
    with engine.begin() as connection:
        folder = str(photos[0].parent)
        root_id = connection.execute(insert(roots).values(path=folder, added_at=utcnow())).lastrowid
        for path in photos:
            pixels = open_image(str(path))
            image_id = connection.execute(insert(images).values(
                pixel_hash=pixel_hash(pixels), width=pixels.width, height=pixels.height, created_at=utcnow(),
            )).lastrowid
            captions[str(path)] = f"what the model once said about {path.stem}"
            # The columns captions had at 0004 (today's add_caption writes later ones too).
            caption_id = connection.execute(text(
                "INSERT INTO captions (image_id, text, raw_text, source, model, model_revision, params, status,"
                " created_at) VALUES (:image, :text, :text, :source, 'an-old-model', '1', '{}', 'generated',"
                " :now)"), {"image": image_id, "text": captions[str(path)], "source": SOURCE_MODEL,
                            "now": utcnow()}).lastrowid
            connection.execute(text("UPDATE images SET caption_id = :caption WHERE id = :image"),
                               {"caption": caption_id, "image": image_id})
            info = path.stat()
            connection.execute(insert(files).values(
                root_id=root_id, path=str(path), dir=folder, name=path.name, dev=info.st_dev, inode=info.st_ino,
                size=info.st_size, mtime_ns=info.st_mtime_ns, image_id=image_id, state=INDEXED, attempts=0,
                seen_at=utcnow(), indexed_at=utcnow(),
            ))
    engine.dispose()
    return captions


def test_an_index_keyed_by_pixels_is_rescanned_after_0006_without_a_model_call(tmp_path: Path) -> None:
    import exiv2
    from photos import photo
    from sqlalchemy import text

    from alttext.index.queries import describe_file
    from alttext.index.scan import scan

    library = tmp_path / "library"
    library.mkdir()
    names = {"cat.jpg": "chelsea", "coffee.png": "coffee", "rocket.webp": "rocket", "astronaut.tif": "astronaut"}
    for name, source in names.items():
        photo(source).resize((160, 120)).save(library / name)
    photos = [library / name for name in names]
    db = tmp_path / "index.sqlite3"
    captions = _index_before_0006(db, photos)

    # Since that scan: a metadata-only write (the file changed, its pixels didn't), and two copies.
    edited = exiv2.ImageFactory.open(str(library / "cat.jpg"))
    edited.readMetadata()
    edited.xmpData()["Xmp.dc.description"] = "written after the old scan"
    edited.writeMetadata()
    shutil.copy(library / "coffee.png", library / "coffee-copy.png")
    shutil.copy(library / "astronaut.tif", library / "astronaut-copy.tif")

    def no_model() -> None:
        raise AssertionError("the model was loaded for photos that already have captions")

    with Index(db) as index:
        summary = scan(index, [str(library)], no_model, max_pixels=100_000_000)
        assert summary.model_calls == 0 and summary.failed == 0
        assert (summary.unchanged, summary.changed, summary.new) == (3, 1, 2)
        for path, caption in captions.items():
            assert describe_file(index, path)["alt_text"] == caption
        for copy, original in (("coffee-copy.png", "coffee.png"), ("astronaut-copy.tif", "astronaut.tif")):
            assert describe_file(index, str(library / copy))["alt_text"] == captions[str(library / original)]
        with index.read() as connection:
            counts = connection.execute(text(
                "SELECT count(*), count(content_hash) FROM images UNION ALL SELECT count(*), 0 FROM captions"
            )).all()
        assert [tuple(row) for row in counts] == [(4, 4), (4, 0)]  # every old image keyed; nothing new


def test_0007_keeps_every_caption_and_adds_an_empty_description(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    ini = str(REPO / "migrations" / "alembic.ini")

    def alembic(*args: str) -> None:
        result = subprocess.run([sys.executable, "-m", "alembic", "-c", ini, "-x", f"db={db}", *args],
                                capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    alembic("upgrade", "0004")
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO images (id, pixel_hash, width, height, created_at)"
                           " VALUES (1, 'abc', 4, 3, '2026-11-01 00:00:00')")
        connection.execute("INSERT INTO captions (id, image_id, text, raw_text, source, model, params, status,"
                           " created_at) VALUES (1, 1, 'A dog.', 'a dog', 'model', 'm', '{\"num_beams\": 4}',"
                           " 'generated', '2026-11-01 00:00:00')")
        connection.execute("UPDATE images SET caption_id = 1 WHERE id = 1")
    alembic("upgrade", "0007")
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, text, raw_text, params, description FROM captions").fetchall()
        assert rows == [(1, "A dog.", "a dog", '{"num_beams": 4}', None)]
        assert connection.execute("SELECT caption_id FROM images").fetchall() == [(1,)]
    alembic("downgrade", "0004")
    assert _schema(db)[1] >= FTS_TRIGGERS
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT id, text FROM captions").fetchall() == [(1, "A dog.")]

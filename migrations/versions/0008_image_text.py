"""Text in the image beside each caption, the long description and that text searchable, and write-back that
notices a new description (docs/architecture.md §14).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

- ``captions.image_text``: the text a model (Florence-2 ``<OCR>``, a chat VLM asked for it) or an OCR engine
  read in the picture; empty for every caption made before this revision (nothing is re-captioned).
- ``files.embedded_description_id``: the caption whose long description was last written into the file
  (ExtDescrAccessibility). A person's edit has no description, so the one embedded is the picture's
  newest model description; a newer one must re-queue the file though its current caption is the same.
  NULL for files embedded before: a file whose picture has a description is looked at once more by the
  next write-back (unchanged files are not rewritten). No foreign key: SQLite can't drop a column that
  has one (downgrade), and a caption with a description is never deleted while its image lives.
- ``images.description_id``: the caption whose description the picture has (the current caption's own,
  else the newest), kept by ``refresh_current_caption``, filled here for the images that have one; the queue
  and `status` compare it with ``files.embedded_description_id`` without a lookup per file.
- Two partial indexes on captions (image_id) where a description / an image text is not empty: "the
  picture's newest description or image text" (search rows, exports, the fill above) is one probe of a
  small index.
- The search row of an image gets two columns, ``description`` and ``image_text``: the current caption's
  own, else the picture's newest (what ``show`` shows). On SQLite the FTS5 table is recreated (FTS5 tables
  can't gain columns), with bm25 column weights (alt text and file names 1, description 0.5, image
  text 1); on PostgreSQL the plain table gains the columns and its generated tsvector is recreated
  (description weight C, image text B). Triggers also refresh the row when a caption's description or
  image text changes, and when a caption carrying either is added beside the current one. The table is
  rebuilt once from the captions it has (seconds at 10^6 images).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TRIGGERS = ("files_fts_insert", "files_fts_delete", "files_fts_update", "images_fts_caption", "captions_fts_text",
            "captions_fts_insert")
# What a search row says of a picture beyond its alt text: the current caption's own, else the newest.
# Duplicated in alttext/index/copy.py (which rebuilds the table after a copy); keep them equal.
_NEWEST = ("(SELECT d.{column} FROM captions d WHERE d.image_id = i.id AND d.{column} <> ''"
           " ORDER BY d.created_at DESC, d.id DESC LIMIT 1)")


def _picture(column: str) -> str:
    return f"coalesce(nullif(c.{column}, ''), {_NEWEST.format(column=column)}, '')"


def _names() -> str:
    return ("(SELECT group_concat(f.name || ' ' || coalesce(f.folder, ''), ' ') FROM files f"
            " WHERE f.image_id = i.id AND f.state = 'indexed')")


def _select(where: str, *, extended: bool) -> str:
    extra = f", {_picture('description')}, {_picture('image_text')}" if extended else ""
    return f"""
        SELECT i.id, c.text, {_names()}{extra}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE {where}EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')"""


def _columns(extended: bool) -> str:
    return "rowid, alt_text, name, description, image_text" if extended else "rowid, alt_text, name"


def _refresh(image_id: str, extended: bool) -> str:
    return (f"DELETE FROM search_fts WHERE rowid = {image_id};"
            f" INSERT INTO search_fts({_columns(extended)}) {_select(f'i.id = {image_id} AND ', extended=extended)};")


def _create_table(extended: bool) -> None:
    columns = "alt_text, name, description, image_text" if extended else "alt_text, name"
    op.execute(f"CREATE VIRTUAL TABLE search_fts USING fts5({columns},"
               " tokenize = 'porter unicode61 remove_diacritics 2')")
    if extended:  # m.rank in search/fts.py: a word in a long description counts less than in the alt text
        op.execute("INSERT INTO search_fts(search_fts, rank) VALUES ('rank', 'bm25(1.0, 1.0, 0.5, 1.0)')")


def _create_triggers(extended: bool) -> None:
    refresh = lambda image_id: _refresh(image_id, extended)  # noqa: E731
    caption_columns = "text, description, image_text" if extended else "text"
    statements = [
        f"CREATE TRIGGER files_fts_insert AFTER INSERT ON files WHEN new.image_id IS NOT NULL"
        f" BEGIN {refresh('new.image_id')} END",
        f"CREATE TRIGGER files_fts_delete AFTER DELETE ON files WHEN old.image_id IS NOT NULL"
        f" BEGIN {refresh('old.image_id')} END",
        f"CREATE TRIGGER files_fts_update AFTER UPDATE OF state, image_id, name, folder ON files"
        f" WHEN old.image_id IS NOT NULL OR new.image_id IS NOT NULL"
        f" BEGIN {refresh('old.image_id')} {refresh('new.image_id')} END",
        f"CREATE TRIGGER images_fts_caption AFTER UPDATE OF caption_id ON images BEGIN {refresh('new.id')} END",
        f"CREATE TRIGGER captions_fts_text AFTER UPDATE OF {caption_columns} ON captions"
        f" BEGIN {refresh('new.image_id')} END",
    ]
    if extended:
        # A model caption with a description or image text added beside a person's edit (which stays current,
        # so images.caption_id does not change) still brings its text into the search row.
        statements.append(
            "CREATE TRIGGER captions_fts_insert AFTER INSERT ON captions"
            " WHEN new.description <> '' OR new.image_text <> ''"
            f" BEGIN {refresh('new.image_id')} END")
    for statement in statements:
        op.execute(statement)


def _rebuild(extended: bool) -> None:
    op.execute(f"INSERT INTO search_fts({_columns(extended)}) {_select('', extended=extended)}")


def _sqlite_search(extended: bool) -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    _create_table(extended)
    _create_triggers(extended)
    _rebuild(extended)


# PostgreSQL (docs/architecture.md §12, rule 6): the refresh function names the new columns, the tsvector is
# recreated (a generated column's expression can't be altered before PostgreSQL 17), the captions trigger
# watches the new columns, and an insert trigger does what SQLite's does.
_PG_NAMES = ("coalesce((SELECT string_agg(f.name || ' ' || coalesce(f.folder, ''), ' ' ORDER BY f.id) FROM files f"
             " WHERE f.image_id = i.id AND f.state = 'indexed'), '')")


def _pg_document(extended: bool) -> str:
    parts = [
        "setweight(to_tsvector('alttext'::regconfig, alt_text), 'A')",
        "setweight(to_tsvector('alttext'::regconfig, regexp_replace(name, '[^[:alnum:]]+', ' ', 'g')), 'B')",
    ]
    if extended:
        parts += ["setweight(to_tsvector('alttext'::regconfig, description), 'C')",
                  "setweight(to_tsvector('alttext'::regconfig, image_text), 'B')"]
    return f"tsvector GENERATED ALWAYS AS ({' || '.join(parts)}) STORED"


def _pg_refresh_function(extended: bool) -> str:
    columns = "image_id, alt_text, name, description, image_text" if extended else "image_id, alt_text, name"
    extra = f", {_picture('description')}, {_picture('image_text')}" if extended else ""
    return f"""
    CREATE OR REPLACE FUNCTION search_fts_refresh(image integer) RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_fts WHERE image_id = image;
        INSERT INTO search_fts ({columns})
        SELECT i.id, c.text, {_PG_NAMES}{extra}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE i.id = image
          AND EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed');
    $$
    """


def _pg_search(extended: bool) -> None:
    op.execute("DROP TRIGGER IF EXISTS captions_fts_text ON captions")
    op.execute("DROP TRIGGER IF EXISTS captions_fts_insert ON captions")
    op.execute("DROP INDEX IF EXISTS ix_search_fts_document")
    op.execute("DELETE FROM search_fts")
    op.execute("ALTER TABLE search_fts DROP COLUMN document")
    if extended:
        op.execute("ALTER TABLE search_fts ADD COLUMN description text NOT NULL DEFAULT ''")
        op.execute("ALTER TABLE search_fts ADD COLUMN image_text text NOT NULL DEFAULT ''")
    else:
        op.execute("ALTER TABLE search_fts DROP COLUMN image_text")
        op.execute("ALTER TABLE search_fts DROP COLUMN description")
    op.execute(f"ALTER TABLE search_fts ADD COLUMN document {_pg_document(extended)}")
    op.execute("CREATE INDEX ix_search_fts_document ON search_fts USING gin (document)")
    op.execute(_pg_refresh_function(extended))
    caption_columns = "text, description, image_text" if extended else "text"
    op.execute(f"CREATE TRIGGER captions_fts_text AFTER UPDATE OF {caption_columns} ON captions"
               " FOR EACH ROW EXECUTE FUNCTION search_fts_caption()")
    if extended:
        op.execute("CREATE TRIGGER captions_fts_insert AFTER INSERT ON captions FOR EACH ROW"
                   " WHEN (NEW.description <> '' OR NEW.image_text <> '') EXECUTE FUNCTION search_fts_caption()")
    columns = "image_id, alt_text, name, description, image_text" if extended else "image_id, alt_text, name"
    extra = f", {_picture('description')}, {_picture('image_text')}" if extended else ""
    op.execute(f"""
        INSERT INTO search_fts ({columns})
        SELECT i.id, c.text, {_PG_NAMES}{extra}
        FROM images i JOIN captions c ON c.id = i.caption_id
        WHERE EXISTS (SELECT 1 FROM files f WHERE f.image_id = i.id AND f.state = 'indexed')
    """)


# "The newest caption of this image with a description (image text)", asked per row by exports and search
# rows: most captions have neither, so a partial index is tiny and the usual answer, "none", is one probe.
PARTIAL_INDEXES = {"ix_captions_described": "description", "ix_captions_image_text": "image_text"}


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: a table copy would drop the FTS triggers on captions and files.
    op.execute("ALTER TABLE captions ADD COLUMN image_text TEXT")
    op.execute("ALTER TABLE files ADD COLUMN embedded_description_id INTEGER")
    for name, column in PARTIAL_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON captions (image_id) WHERE {column} <> ''")
    op.execute("ALTER TABLE images ADD COLUMN description_id INTEGER")
    # Only images with a description somewhere (the partial index finds them); no trigger watches the column.
    op.execute("""
        UPDATE images SET description_id = coalesce(
            (SELECT c.id FROM captions c WHERE c.id = images.caption_id AND c.description <> ''),
            (SELECT d.id FROM captions d WHERE d.image_id = images.id AND d.description <> ''
             ORDER BY d.created_at DESC, d.id DESC LIMIT 1))
        WHERE EXISTS (SELECT 1 FROM captions d WHERE d.image_id = images.id AND d.description <> '')
    """)
    if op.get_bind().dialect.name == "postgresql":
        _pg_search(extended=True)
    else:
        _sqlite_search(extended=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_search(extended=False)
    else:
        # first: the triggers must stop naming captions.image_text before the column goes
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("ALTER TABLE images DROP COLUMN description_id")
    for name in PARTIAL_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE files DROP COLUMN embedded_description_id")
    op.execute("ALTER TABLE captions DROP COLUMN image_text")
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_search(extended=False)

"""What a picture says beyond its alt text (its long description, the text read in it), as portable SQL:
``show``, search and the exports read it, and it needs no SQLAlchemy (docs/architecture.md §6, §13, §15)."""

from __future__ import annotations


def picture_text_sql(column: str, caption: str = "c") -> str:
    """Portable SQL for what a picture's caption ``caption`` (an alias) says beyond its alt text, as ``show``
    shows it and search indexes it: the caption's own ``description`` or ``image_text``, else the newest of
    its image's captions that has one (a person's edit carries neither, and the picture is the same;
    docs/architecture.md §13, §15). NULL when none has."""
    if column not in ("description", "image_text"):
        raise ValueError(column)
    return (f"coalesce(nullif({caption}.{column}, ''), (SELECT d.{column} FROM captions d"
            f" WHERE d.image_id = {caption}.image_id AND d.{column} <> ''"
            " ORDER BY d.created_at DESC, d.id DESC LIMIT 1))")

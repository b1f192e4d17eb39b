"""Alembic migrations for the alttext index (shipped inside the wheel as alttext.migrations)."""

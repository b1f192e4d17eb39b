"""The SQLite index: schema, reconcile scans, ingest, search."""

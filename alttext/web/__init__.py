"""Getting alt text to websites: review, lint, exports, HTML alt filling, semantic search."""

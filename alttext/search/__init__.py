"""Finding photos: full text (FTS5, bm25) and meaning (sentence vectors), and their fusion."""

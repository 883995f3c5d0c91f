"""Content and its store: the Q&A pair schema, the shipped pairs and source articles, loading,
passages, validation, and the knowledge store (pairs, their seeding and visitors' feedback)."""

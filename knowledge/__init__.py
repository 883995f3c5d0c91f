"""Curated Q&A pairs and source-article passages: their schema, loading and validation."""

"""Ingestion: read department exports, map and standardise them, and record every row."""

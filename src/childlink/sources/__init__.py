"""Departments, their data sources, ingest batches and the source records they produced."""

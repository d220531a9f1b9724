"""Alembic migration environment (``script_location = childlink.store:migrations``)."""

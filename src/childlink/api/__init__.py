"""The JSON API (``/api/v1``): FastAPI app factory, dependencies and one router per context."""

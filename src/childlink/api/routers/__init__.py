"""One router per context, mounted under ``/api/v1``."""

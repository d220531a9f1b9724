"""The HTML pages, one module per context."""

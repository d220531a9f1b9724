"""The ``childlink`` command line: one Typer sub-app per domain context, thin over services."""

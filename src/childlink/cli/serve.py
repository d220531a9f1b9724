"""``childlink serve``: the web UI and the JSON API on one port."""

from __future__ import annotations

import typer

from childlink.cli.db import cli_settings
from childlink.config import Settings


def serve_app(settings: Settings, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    from childlink.api.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the web UI and the API (docs at /api/v1/docs) until Ctrl-C."""
    settings = cli_settings()
    typer.echo(f"ChildLink at http://{host}:{port}/ (API docs at /api/v1/docs)")
    serve_app(settings, host, port)

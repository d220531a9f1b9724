"""``childlink serve``: the web UI and the JSON API on one port, with the alerts worker."""

from __future__ import annotations

import logging
import threading

import typer

from childlink.cli.db import cli_settings
from childlink.config import Settings

log = logging.getLogger(__name__)

WORKER_INTERVAL_S = 0.5
"""How often the in-process worker looks for new batches and due notifications."""


def serve_app(settings: Settings, host: str, port: int, *, worker: bool = True) -> None:
    """Run the app with uvicorn until interrupted; with ``worker``, the alerts worker too.

    The worker thread links and re-scores newly ingested batches (so their alerts reach the
    open inboxes), escalates overdue alerts and delivers the outbox. Production deployments
    may run ``childlink worker`` as its own process instead (``--no-worker`` here).
    """
    import uvicorn

    from childlink.api.app import create_app

    stop = threading.Event()
    thread: threading.Thread | None = None
    if worker:
        from childlink.alerts.worker import run_worker

        thread = threading.Thread(
            target=run_worker,
            args=(settings,),
            kwargs={"stop_event": stop, "interval": WORKER_INTERVAL_S},
            name="childlink-worker",
            daemon=True,
        )
        thread.start()
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
            if thread.is_alive():
                log.warning("the alerts worker did not stop within 30 s")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Run the alerts worker (new batches → alerts, escalations, delivery) in this "
        "process; use --no-worker when `childlink worker` runs separately.",
    ),
) -> None:
    """Serve the web UI and the API (docs at /api/v1/docs) until Ctrl-C."""
    settings = cli_settings()
    typer.echo(f"ChildLink at http://{host}:{port}/ (API docs at /api/v1/docs)")
    serve_app(settings, host, port, worker=worker)

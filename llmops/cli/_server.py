"""``llmops server``: run the HTTP server (OTLP receiver) on the project store."""

from __future__ import annotations

import typer

from llmops.cli._output import console

__all__ = ["server"]


def server(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (beyond localhost needs a token)."
    ),
    port: int = typer.Option(8765, "--port", "-p", help="Port to listen on."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="LLMOPS_SERVER_TOKEN",
        help="Bearer token required on every route but /health.",
    ),
) -> None:
    """Serve the OTLP/HTTP trace receiver (POST /v1/traces) over the project store."""
    import uvicorn

    from llmops.config import load_config
    from llmops.server import check_bind, create_app
    from llmops.store import open_store
    from llmops.tracing import Redactor

    check_bind(host, token)
    config = load_config()
    settings = config.tracing
    redactor = Redactor(
        settings.redact_patterns,
        redact_emails=settings.redact_emails,
        max_chars=settings.max_attribute_chars,
    )
    app = create_app(open_store(config.resolved_store_url), token=token, redactor=redactor)
    console.print(
        f"llmops server on http://{host}:{port} · OTLP endpoint http://{host}:{port}/v1/traces"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")

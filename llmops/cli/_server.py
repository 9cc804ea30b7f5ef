"""``llmops server`` / ``llmops ui``: the REST API, the web UI and the OTLP receiver."""

from __future__ import annotations

import typer

from llmops.cli._output import console

__all__ = ["server", "ui"]


def server(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (beyond localhost needs a token)."
    ),
    port: int = typer.Option(8765, "--port", "-p", help="Port to listen on."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="LLMOPS_SERVER_TOKEN",
        help="Bearer token required on the API and OTLP routes (/api, /v1).",
    ),
    open_browser: bool = typer.Option(False, "--open", hidden=True),
) -> None:
    """Serve the REST API (/api/v1), the web UI (/ui) and the OTLP/HTTP receiver (/v1/traces)."""
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
    base = f"http://{host}:{port}"
    console.print(
        f"llmops server on {base} · web UI {base}/ui/ · API {base}/api/v1 · "
        f"OTLP endpoint {base}/v1/traces"
    )
    if open_browser:
        import webbrowser

        webbrowser.open(f"{base}/ui/")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (beyond localhost needs a token)."
    ),
    port: int = typer.Option(8765, "--port", "-p", help="Port to listen on."),
    token: str | None = typer.Option(
        None, "--token", envvar="LLMOPS_SERVER_TOKEN", help="Bearer token for /api and /v1."
    ),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the UI in a browser."),
) -> None:
    """Open the trace viewer: the server, with the web UI at /ui."""
    server(host=host, port=port, token=token, open_browser=open_browser)

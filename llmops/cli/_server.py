"""``llmops server`` / ``llmops ui``: the REST API, the web UI and the OTLP receiver."""

from __future__ import annotations

import os

import typer

from llmops.cli._output import console

__all__ = ["server", "ui"]

_ALLOWED_HOST_HELP = (
    "Another host name (NAME or NAME:PORT) the server answers to, e.g. a reverse proxy's; "
    "repeatable. Others get 421 (DNS rebinding protection). Also LLMOPS_ALLOWED_HOSTS "
    "(comma-separated) and server.allowed_hosts in the config."
)


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
    allowed_host: list[str] = typer.Option([], "--allowed-host", help=_ALLOWED_HOST_HELP),
    open_browser: bool = typer.Option(False, "--open", hidden=True),
) -> None:
    """Serve the REST API (/api/v1), the web UI (/ui) and the OTLP/HTTP receiver (/v1/traces)."""
    import uvicorn

    from llmops.config import load_config
    from llmops.server import check_bind, create_app
    from llmops.store import open_store
    from llmops.tracing import Redactor
    from llmops.tracing._setup import pricing_for

    check_bind(host, token)
    config = load_config()
    settings = config.tracing
    redactor = Redactor(
        settings.redact_patterns,
        redact_emails=settings.redact_emails,
        max_chars=settings.max_attribute_chars,
    )
    from_env = [h for h in os.environ.get("LLMOPS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    app = create_app(
        open_store(config.resolved_store_url),
        token=token,
        redactor=redactor,
        host=host,
        port=port,
        allowed_hosts=[*config.server.allowed_hosts, *from_env, *allowed_host],
        pricing=pricing_for(config.pricing),
    )
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
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
    allowed_host: list[str] = typer.Option([], "--allowed-host", help=_ALLOWED_HOST_HELP),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the UI in a browser."),
) -> None:
    """Open the trace viewer: the server, with the web UI at /ui."""
    server(host=host, port=port, token=token, allowed_host=allowed_host, open_browser=open_browser)

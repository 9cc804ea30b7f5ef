"""``llmops server`` / ``llmops ui``: the REST API, the web UI and the OTLP receiver."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmops.cli._output import console

if TYPE_CHECKING:
    from fastapi import FastAPI

    from llmops.config import Config
    from llmops.evals import Evaluator
    from llmops.server import EvaluatorRunner

__all__ = ["server", "ui"]

_ALLOWED_HOST_HELP = (
    "Another host name (NAME or NAME:PORT) the server answers to, e.g. a reverse proxy's; "
    "repeatable. Others get 421 (DNS rebinding protection). Also LLMOPS_ALLOWED_HOSTS "
    "(comma-separated) and server.allowed_hosts in the config."
)

_GRPC_PORT_HELP = (
    "Port of the OTLP/gRPC receiver (TraceService, LogsService); 0: off. Default "
    "server.otlp_grpc_port of the config, else 4317."
)
_HTTP_PORT_HELP = (
    "A second port serving the same app, OTLP/HTTP's conventional one; 0: off. Default "
    "server.otlp_http_port of the config, else 4318."
)

# one definition of each option shared by `server` and `ui`
_HOST = typer.Option(
    "127.0.0.1", "--host", help="Address to listen on (beyond localhost needs a token)."
)
_PORT = typer.Option(8765, "--port", "-p", help="Port to listen on.")
_ALLOWED_HOST = typer.Option([], "--allowed-host", help=_ALLOWED_HOST_HELP)
_GRPC_PORT = typer.Option(
    None, "--otlp-grpc-port", min=0, max=65535, envvar="LLMOPS_OTLP_GRPC_PORT", help=_GRPC_PORT_HELP
)
_HTTP_PORT = typer.Option(
    None, "--otlp-http-port", min=0, max=65535, envvar="LLMOPS_OTLP_HTTP_PORT", help=_HTTP_PORT_HELP
)


def server(
    host: str = _HOST,
    port: int = _PORT,
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="LLMOPS_SERVER_TOKEN",
        help="Bearer token required on the API and OTLP routes (/api, /v1).",
    ),
    allowed_host: list[str] = _ALLOWED_HOST,
    otlp_grpc_port: int | None = _GRPC_PORT,
    otlp_http_port: int | None = _HTTP_PORT,
    open_browser: bool = typer.Option(False, "--open", hidden=True),
    evaluators: bool = typer.Option(
        False,
        "--evaluators",
        help="Run the online evaluators of configs/evaluators.yaml on new traces in the "
        "background (counters at /api/v1/evaluators).",
    ),
    evaluators_file: Path | None = typer.Option(
        None, "--evaluators-file", help="Another evaluators file (implies --evaluators)."
    ),
) -> None:
    """Serve the REST API (/api/v1), the web UI (/ui) and the OTLP receiver: HTTP (/v1/traces,
    also on 4318) and gRPC (4317)."""
    import uvicorn

    from llmops.config import load_config
    from llmops.server import check_bind, create_app
    from llmops.store import open_store
    from llmops.tracing import pricing_for, redactor_for

    check_bind(host, token)
    config = load_config()
    grpc_port = config.server.otlp_grpc_port if otlp_grpc_port is None else otlp_grpc_port
    http_port = config.server.otlp_http_port if otlp_http_port is None else otlp_http_port
    if http_port == port:
        http_port = 0  # the main port serves /v1/traces already
    online = None  # read before binding: a bad evaluators file is one line and exit 2
    if evaluators or evaluators_file is not None:
        from llmops.cli._evaluate_traces import evaluators_path
        from llmops.evals import load_evaluators

        online = load_evaluators(evaluators_path(evaluators_file))
    # bound before anything starts, so a port in use is one line and exit 2, not a traceback
    sockets = [_listen(host, port), *([_listen(host, http_port)] if http_port else [])]
    redactor = redactor_for(config.tracing)
    from_env = [h for h in os.environ.get("LLMOPS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    app = create_app(
        open_store(config.resolved_store_url),
        token=token,
        redactor=redactor,
        host=host,
        port=port,
        allowed_hosts=[*config.server.allowed_hosts, *from_env, *allowed_host],
        pricing=pricing_for(config.pricing),
        other_ports=[http_port] if http_port else [],
    )
    grpc_server = None
    if grpc_port:
        # lazy: keeps import llmops light
        from llmops.server import start_grpc

        try:
            grpc_server = start_grpc(app, host, grpc_port)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
    runner = None if online is None else _evaluator_runner(app, online, config)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    otlp = [f"{base}/v1/traces"]
    if http_port:
        otlp.append(f"http://{shown}:{http_port}/v1/traces")
    if grpc_port:
        otlp.append(f"gRPC {shown}:{grpc_port}")
    console.print(
        f"llmops server on {base} · web UI {base}/ui/ · API {base}/api/v1 · OTLP {' · '.join(otlp)}"
    )
    if open_browser:
        import webbrowser

        webbrowser.open(f"{base}/ui/")
    try:
        # one uvicorn server on both HTTP sockets: one event loop, one Ctrl-C
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=sockets)
    finally:
        if runner is not None:
            runner.stop()
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()


def _evaluator_runner(app: FastAPI, loaded: list[Evaluator], config: Config) -> EvaluatorRunner:
    """The background evaluators, started, their counters served by ``app``."""
    # lazy: keeps import llmops light
    from llmops.evals import ScorerEnv
    from llmops.llm import ResponseCache
    from llmops.server import EvaluatorRunner, attach_evaluators

    store = app.state.store
    env = ScorerEnv(config=config, store=store, cache=ResponseCache(store))
    runner = EvaluatorRunner(store, loaded, env=env)
    attach_evaluators(app, runner)
    # on uvicorn's graceful shutdown: it re-raises SIGTERM/SIGINT afterwards, and the process
    # then ends without reaching this command's ``finally``
    app.router.on_shutdown.append(runner.stop)
    console.print(f"online evaluators: {', '.join(e.key for e in loaded) or 'none'}")
    return runner.start()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; :class:`ConfigError` when the port is taken."""
    # lazy: keeps import llmops light
    from llmops._exceptions import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like uvicorn's own bind
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def ui(
    host: str = _HOST,
    port: int = _PORT,
    token: str | None = typer.Option(
        None, "--token", envvar="LLMOPS_SERVER_TOKEN", help="Bearer token for /api and /v1."
    ),
    allowed_host: list[str] = _ALLOWED_HOST,
    otlp_grpc_port: int | None = _GRPC_PORT,
    otlp_http_port: int | None = _HTTP_PORT,
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the UI in a browser."),
) -> None:
    """Open the trace viewer: the server, with the web UI at /ui."""
    server(
        host=host,
        port=port,
        token=token,
        allowed_host=allowed_host,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        open_browser=open_browser,
    )

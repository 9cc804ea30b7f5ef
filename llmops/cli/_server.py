"""``llmops server`` / ``llmops ui``: the REST API, the web UI and the OTLP receiver."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
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

_WORKERS_HELP = (
    "Server processes sharing the ports (a supervisor restarts one that dies). More than one "
    "needs no extra setup on PostgreSQL; on SQLite all share its one write lock."
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
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, max=64, envvar="LLMOPS_SERVER_WORKERS", help=_WORKERS_HELP
    ),
) -> None:
    """Serve the REST API (/api/v1), the web UI (/ui) and the OTLP receiver: HTTP (/v1/traces,
    also on 4318) and gRPC (4317)."""
    from llmops.config import load_config
    from llmops.server import check_bind

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
    if workers > 1:
        _check_workers(config.resolved_store_url, online is not None)
    # bound before anything starts, so a port in use is one line and exit 2, not a traceback
    sockets = [_listen(host, port), *([_listen(host, http_port)] if http_port else [])]
    from_env = [h for h in os.environ.get("LLMOPS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    serve = _Serve(
        config=config,
        sockets=sockets,
        token=token,
        host=host,
        port=port,
        http_port=http_port,
        grpc_port=grpc_port,
        allowed_hosts=[*config.server.allowed_hosts, *from_env, *allowed_host],
        online=online,
        # Linux spreads the connections of a port that every worker binds with SO_REUSEPORT;
        # elsewhere the last one to bind would get them all, so worker 0 serves gRPC alone
        shared_grpc=workers > 1 and sys.platform.startswith("linux"),
    )
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    otlp = [f"{base}/v1/traces"]
    if http_port:
        otlp.append(f"http://{shown}:{http_port}/v1/traces")
    if grpc_port:
        otlp.append(f"gRPC {shown}:{grpc_port}")
    banner = (
        f"llmops server on {base} · web UI {base}/ui/ · API {base}/api/v1 · OTLP {' · '.join(otlp)}"
    )

    def announce() -> None:
        console.print(banner + (f" · {workers} workers" if workers > 1 else ""))
        if open_browser:
            import webbrowser

            webbrowser.open(f"{base}/ui/")

    if workers == 1:
        serve(0, announce)
        return
    # imported before the fork, so the workers share these pages instead of importing each
    import uvicorn  # noqa: F401

    from llmops.cli._workers import supervise
    from llmops.server import check_grpc_port

    if grpc_port:
        check_grpc_port(host, grpc_port)  # the workers bind it shared: none can tell it is taken
    announce()
    try:
        code = supervise(workers, serve)
    finally:
        for sock in sockets:
            sock.close()
    if code:
        raise typer.Exit(code)


@dataclass(frozen=True)
class _Serve:
    """One server process over the bound ``sockets``: ``llmops server`` itself, or a worker."""

    config: Config
    sockets: list[socket.socket]
    token: str | None
    host: str
    port: int
    http_port: int
    grpc_port: int
    allowed_hosts: list[str]
    online: list[Evaluator] | None
    shared_grpc: bool

    def __call__(self, slot: int, ready: Callable[[], None]) -> None:
        """Serve until stopped; ``ready()`` once the app, gRPC and evaluators are set up."""
        import uvicorn

        from llmops.server import create_app
        from llmops.store import open_store
        from llmops.tracing import pricing_for, redactor_for

        config = self.config
        app = create_app(
            open_store(config.resolved_store_url),
            token=self.token,
            redactor=redactor_for(config.tracing),
            host=self.host,
            port=self.port,
            allowed_hosts=self.allowed_hosts,
            pricing=pricing_for(config.pricing),
            other_ports=[self.http_port] if self.http_port else [],
        )
        grpc_server = None
        if self.grpc_port and (self.shared_grpc or slot == 0):
            # lazy: keeps import llmops light
            from llmops.server import start_grpc

            try:
                grpc_server = start_grpc(app, self.host, self.grpc_port, shared=self.shared_grpc)
            except BaseException:
                for sock in self.sockets:
                    sock.close()
                raise
        runner = None
        if self.online is not None:
            runner = _evaluator_runner(app, self.online, config, announce=slot == 0)
        # lazy: keeps import llmops light
        from llmops.server import start_retention

        # one pruner is enough (several on one PostgreSQL would take turns); every worker
        # answers /api/v1/retention
        pruner = start_retention(app, app.state.store, config.retention, prune_here=slot == 0)
        ready()
        try:
            # one uvicorn server on both HTTP sockets: one event loop, one Ctrl-C
            uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=self.sockets)
        finally:
            if runner is not None:
                runner.stop()
            if pruner is not None:
                pruner.stop()
            if grpc_server is not None:
                grpc_server.stop(grace=2).wait()


def _check_workers(url: str, evaluators: bool) -> None:
    """Refuse what several workers cannot do, in one line; create the store's schema here, once,
    and close its connections before the workers are forked (none may cross the fork)."""
    # lazy: keeps import llmops light
    from llmops._exceptions import ConfigError
    from llmops.store import open_store

    if not hasattr(os, "fork"):
        raise ConfigError("--workers needs os.fork (Linux, macOS); start several servers instead")
    store = open_store(url)
    try:
        if evaluators and store.dialect != "postgresql":
            raise ConfigError(
                "--evaluators with --workers needs a PostgreSQL store: on SQLite every worker "
                "would run the judges (only one process can hold an evaluator's pass on "
                "PostgreSQL); use one server process for evaluators"
            )
    finally:
        store.close()


def _evaluator_runner(
    app: FastAPI, loaded: list[Evaluator], config: Config, *, announce: bool = True
) -> EvaluatorRunner:
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
    if announce:
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
        # called as a function: the options it lacks must be values, not typer's defaults
        evaluators=False,
        evaluators_file=None,
        workers=1,
    )

"""The llmops HTTP server: health, the OTLP/HTTP receiver at ``POST /v1/traces``, the REST API
under ``/api/v1`` and the web UI under ``/ui``.

Every response carries a strict Content-Security-Policy; a token, when set, guards every
route but ``/health``, ``/`` and the UI's static files (the UI sends it from JavaScript).
Every route answers only the host names of :class:`HostPolicy` (DNS rebinding), OTLP bodies
are bounded by the limits of ``llmops.tracing._otlp``, store faults are 503 with
``Retry-After``, and no answer ever holds a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from llmops._exceptions import ConflictError, InputError, LlmopsError, NotFoundError, StoreError
from llmops.server._auth import HostPolicy, token_ok
from llmops.server._faults import RETRY_AFTER_S, StoreHealth, is_store_fault
from llmops.store import Store
from llmops.tracing import (
    MAX_BODY_BYTES,
    OtlpIngest,
    PayloadTooLargeError,
    Pricing,
    Redactor,
    StoreSink,
    UnsupportedContentError,
)

__all__ = ["MAX_BODY_BYTES", "create_app"]  # the limit lives with the other OTLP limits

_PROTOBUF = "application/x-protobuf"
#: Where Langfuse's SDK sends OTLP traces: an alias of ``/v1/traces``.
LANGFUSE_TRACES = "/api/public/otel/v1/traces"
#: OTLP requests decoded and stored at once, each on its own thread; others wait their turn.
#: The memory of ingest is bounded by this many requests, and so is the memory the allocator
#: keeps after them (glibc keeps freed memory in per-thread arenas: on the 40 threads of
#: Starlette's pool, bombs refused one after another kept raising the RSS).
INGEST_THREADS = 4
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_RETRY = {"retry-after": str(RETRY_AFTER_S)}
_log = logging.getLogger("llmops.server")


def _error(
    status: int, message: str, protobuf: bool, headers: dict[str, str] | None = None
) -> Response:
    if protobuf:  # an OTLP google.rpc.Status would carry it; the text is what clients log
        return Response(
            message.encode(), status_code=status, media_type="text/plain", headers=headers
        )
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
)


def _public(path: str) -> bool:
    """Routes that carry no data: health, the root and the UI's static files."""
    return path in ("/health", "/", "/ui") or path.startswith("/ui/")


class _Guard:
    """ASGI middleware, for every route: the Host and Origin names, the bearer token, NUL-free
    URLs, and security headers on every response; a 2xx from the API ends a store outage."""

    def __init__(
        self, app: ASGIApp, token: str | None, hosts: HostPolicy, health: StoreHealth
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.health = health

    def _refusal(self, scope: Scope) -> Response | None:
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host")
        if host is not None and not self.hosts.allows(host.decode("latin-1")):
            shown = host.decode("latin-1")[:100]
            return _error(
                421,
                f"this server does not answer to host '{shown}' (DNS rebinding protection); "
                f"it answers to {self.hosts.describe()}. To allow it, start the server with "
                f"--allowed-host {shown.split(':')[0] or 'NAME'} or set LLMOPS_ALLOWED_HOSTS",
                protobuf=False,
            )
        origin = headers.get(b"origin")
        # browsers send Origin on cross-site writes; websockets have no CORS at all
        state_changing = scope["type"] == "websocket" or scope["method"] not in _SAFE_METHODS
        if (
            origin is not None
            and state_changing
            and not self.hosts.allows_origin(origin.decode("latin-1"))
        ):
            shown = origin.decode("latin-1")[:100]
            return _error(403, f"cross-origin request from '{shown}' refused", False)
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            return _error(400, "NUL characters are not allowed in URLs", protobuf=False)
        if not _public(path):
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            if not token_ok(self.token, authorization):
                return _error(401, "missing or wrong bearer token", protobuf=False)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rejected = self._refusal(scope)
        if scope["type"] == "websocket":
            if rejected is not None:  # closing before accepting answers 403
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        operation = (
            "write"
            if path.startswith("/v1/") or path == LANGFUSE_TRACES
            else "read"
            if path.startswith("/api/")
            else ""
        )

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
                if operation and message["status"] < 300:
                    self.health.succeeded(operation)
            await send(message)

        if rejected is not None:
            await rejected(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)


def _handle_errors(app: FastAPI, health: StoreHealth) -> None:
    """Errors as ``{code, message}``: bad input 400, unknown things 404, conflicts (another
    annotator's item) 409, store faults 503 with ``Retry-After``, anything else 500; never a
    traceback."""

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(400, "; ".join(problems) or "invalid request", protobuf=False)

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"code": exc.status_code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def llmops_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StoreError):
            health.failed(exc, "read")
            return _error(503, str(exc), protobuf=False, headers=_RETRY)
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 409
            if isinstance(exc, ConflictError)
            else 400
        )
        return _error(status, str(exc), protobuf=False)

    async def unexpected(request: Request, exc: Exception) -> Response:
        if is_store_fault(exc):
            message = health.failed(exc, "read")  # the API only reads; ingest has its own
            return _error(503, message, protobuf=False, headers=_RETRY)
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal server error (details are in the server's log)", False)

    from sqlalchemy.exc import SQLAlchemyError

    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
        RequestValidationError: validation,
        HTTPException: http,
        LlmopsError: llmops_error,
        SQLAlchemyError: unexpected,
        OSError: unexpected,
        Exception: unexpected,  # Starlette answers with it, then re-raises for the log
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


def create_app(
    store: Store,
    *,
    token: str | None = None,
    redactor: Redactor | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    allowed_hosts: Iterable[str] = (),
    pricing: Pricing | None = None,
    other_ports: Iterable[int] = (),
) -> FastAPI:
    """The server application over ``store``; ``token`` protects every route that has data.

    ``host`` and ``port`` are where the server listens (``port`` None: any), which decides
    the ``Host`` names it answers to, with ``allowed_hosts`` (``name[:port]``, ``*`` for any).
    ``pricing`` prices the spans the OTLP receiver gets (default: litellm's bundled map).
    ``other_ports`` are further ports it listens on (OTLP/HTTP's 4318), answered like ``port``.
    """
    from llmops.server import (
        _api_bundles,
        _api_datasets,
        _api_evals,
        _api_gates,
        _api_indexes,
        _api_matrix,
        _api_models,
        _api_prompts,
        _api_queues,
        _api_scores,
        _api_sessions,
        _api_stats,
        _api_trace_tree,
        _api_traces,
        _api_tracking,
        _api_users,
        _evaluators,
    )
    from llmops.server._ui import mount_ui

    ingest = OtlpIngest(StoreSink(store), redactor, pricing)
    app = FastAPI(  # no Swagger/ReDoc pages: they load scripts from a CDN (offline, and the CSP)
        title="llmops",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    store_health = StoreHealth()
    # its threads end when the app is collected (they hold the executor weakly)
    ingest_threads = ThreadPoolExecutor(INGEST_THREADS, thread_name_prefix="llmops-ingest")
    hosts = HostPolicy.for_bind(host, port, allowed_hosts).also_on(port, other_ports)
    app.state.store = store
    app.state.ingest = ingest
    app.state.evaluators = None  # llmops.server.attach_evaluators: where they run
    app.state.redactor = ingest.redactor  # scores' comments are masked like span text
    app.state.hosts = hosts
    # for the OTLP/gRPC receiver (llmops.server._grpc): the same token, pool and health
    app.state.token = token
    app.state.ingest_threads = ingest_threads
    app.state.store_health = store_health
    app.add_middleware(_Guard, token=token, hosts=hosts, health=store_health)
    _handle_errors(app, store_health)
    for module in (
        _api_traces,
        _api_trace_tree,
        _api_scores,
        _api_sessions,
        _api_users,
        _api_stats,
        _api_prompts,
        _api_datasets,
        _api_queues,
        _api_evals,
        _api_matrix,
        _api_gates,
        _api_tracking,
        _api_models,
        _api_indexes,
        _api_bundles,
        _evaluators,  # its runner attached where the server runs evaluators
    ):
        app.include_router(module.router)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    async def receive(
        request: Request, store_rows: Callable[[bytes, str, str | None], int]
    ) -> Response:
        content_type = request.headers.get("content-type", "")
        protobuf = content_type.split(";", 1)[0].strip().lower() != "application/json"
        too_large = f"request body over {MAX_BODY_BYTES:,} bytes: send smaller batches"
        length = request.headers.get("content-length", "")
        if length and not (length.isascii() and length.isdigit()):
            return _error(400, f"invalid Content-Length '{length[:40]}'", protobuf)
        if length and int(length) > MAX_BODY_BYTES:  # refused before reading a byte
            return _error(413, too_large, protobuf)
        body = bytearray()
        async for chunk in request.stream():  # chunked bodies have no Content-Length
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, too_large, protobuf)
        encoding = request.headers.get("content-encoding")
        work = functools.partial(store_rows, bytes(body), content_type, encoding)
        del body
        try:
            await asyncio.get_running_loop().run_in_executor(ingest_threads, work)
        except UnsupportedContentError as exc:
            return _error(415, str(exc), protobuf)
        except PayloadTooLargeError as exc:
            return _error(413, str(exc), protobuf)
        except InputError as exc:
            return _error(400, str(exc), protobuf)
        except Exception as exc:
            if not is_store_fault(exc):
                raise
            return _error(503, store_health.failed(exc, "write"), protobuf, headers=_RETRY)
        if protobuf:  # an empty Export*ServiceResponse: full success
            return Response(b"", media_type=_PROTOBUF)
        return JSONResponse({})

    @app.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)")
    async def receive_traces(request: Request) -> Response:
        return await receive(request, ingest.ingest)

    # Langfuse's SDK (v3+) sends OTLP to <LANGFUSE_HOST>/api/public/otel/v1/traces
    @app.post(LANGFUSE_TRACES, summary="OTLP/HTTP trace export at Langfuse's path")
    async def receive_langfuse_traces(request: Request) -> Response:
        return await receive(request, ingest.ingest)

    @app.post("/v1/logs", summary="OTLP/HTTP logs export (GenAI content sent as log records)")
    async def receive_logs(request: Request) -> Response:
        return await receive(request, ingest.ingest_logs)

    mount_ui(app)
    return app

"""The llmops HTTP server: health, the OTLP/HTTP receiver at ``POST /v1/traces``, the REST API
under ``/api/v1`` and the web UI under ``/ui``.

Every response carries a strict Content-Security-Policy; a token, when set, guards every
route but ``/health``, ``/`` and the UI's static files (the UI sends it from JavaScript).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from llmops._exceptions import InputError, LlmopsError, NotFoundError, StoreError
from llmops.server._auth import token_ok
from llmops.store import Store
from llmops.tracing._ingest import OtlpIngest
from llmops.tracing._otlp import UnsupportedContentError
from llmops.tracing._redact import Redactor
from llmops.tracing._sinks import StoreSink

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 64 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"


def _error(status: int, message: str, protobuf: bool) -> Response:
    if protobuf:  # an OTLP google.rpc.Status would carry it; the text is what clients log
        return Response(message.encode(), status_code=status, media_type="text/plain")
    return JSONResponse({"code": status, "message": message}, status_code=status)


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
    """ASGI middleware: the bearer token, NUL-free URLs, and security headers on every response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        rejected: Response | None = None
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            rejected = _error(400, "NUL characters are not allowed in URLs", protobuf=False)
        elif not _public(path):
            headers = dict(scope.get("headers", []))
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            if not token_ok(self.token, authorization):
                rejected = _error(401, "missing or wrong bearer token", protobuf=False)
        if rejected is not None:
            await rejected(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)


def _handle_errors(app: FastAPI) -> None:
    """Errors as ``{code, message}``: bad input 400, unknown things 404, never a traceback."""

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
        status = 404 if isinstance(exc, NotFoundError) else 400
        if isinstance(exc, StoreError):
            status = 503
        return _error(status, str(exc), protobuf=False)

    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
        RequestValidationError: validation,
        HTTPException: http,
        LlmopsError: llmops_error,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


def create_app(
    store: Store, *, token: str | None = None, redactor: Redactor | None = None
) -> FastAPI:
    """The server application over ``store``; ``token`` protects every route that has data."""
    from llmops.server import (
        _api_evals,
        _api_gates,
        _api_prompts,
        _api_sessions,
        _api_trace_tree,
        _api_traces,
    )
    from llmops.server._ui import mount_ui

    ingest = OtlpIngest(StoreSink(store), redactor)
    app = FastAPI(  # no Swagger/ReDoc pages: they load scripts from a CDN (offline, and the CSP)
        title="llmops",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.ingest = ingest
    app.add_middleware(_Guard, token=token)
    _handle_errors(app)
    for module in (
        _api_traces,
        _api_trace_tree,
        _api_sessions,
        _api_prompts,
        _api_evals,
        _api_gates,
    ):
        app.include_router(module.router)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)")
    async def receive_traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        protobuf = content_type.split(";", 1)[0].strip().lower() != "application/json"
        body = bytearray()
        async for chunk in request.stream():  # chunked bodies have no Content-Length
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body over {MAX_BODY_BYTES} bytes", protobuf)
        try:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(
                ingest.ingest, bytes(body), content_type, request.headers.get("content-encoding")
            )
        except UnsupportedContentError as exc:
            return _error(415, str(exc), protobuf)
        except InputError as exc:
            return _error(400, str(exc), protobuf)
        if protobuf:  # an empty ExportTraceServiceResponse: full success
            return Response(b"", media_type=_PROTOBUF)
        return JSONResponse({})

    mount_ui(app)
    return app

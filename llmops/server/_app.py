"""The llmops HTTP server: health, and the OTLP/HTTP trace receiver at ``POST /v1/traces``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from llmops._exceptions import InputError
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


def create_app(
    store: Store, *, token: str | None = None, redactor: Redactor | None = None
) -> FastAPI:
    """The server application over ``store``; ``token`` protects every route but /health."""
    ingest = OtlpIngest(StoreSink(store), redactor)
    app = FastAPI(
        title="llmops", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.store = store
    app.state.ingest = ingest

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        if request.url.path != "/health" and not token_ok(
            token, request.headers.get("authorization")
        ):
            return JSONResponse(
                {"code": 401, "message": "missing or wrong bearer token"}, status_code=401
            )
        response: Response = await call_next(request)
        return response

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

    return app

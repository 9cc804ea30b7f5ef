"""The OTLP/gRPC receiver: ``TraceService/Export`` (and ``LogsService/Export`` where the ingest
has logs) on a port of its own, through the same ingest, limits, token and store-fault
handling as ``POST /v1/traces``.

Requests stay raw bytes (no deserializer): they are the same ``ExportTraceServiceRequest``
protobuf that OTLP/HTTP posts, so one decode path serves both. Status codes follow the OTLP
specification: bad data INVALID_ARGUMENT, too large RESOURCE_EXHAUSTED, a store fault
UNAVAILABLE with a ``google.rpc.RetryInfo`` (exporters retry it), a wrong token
UNAUTHENTICATED. ``grpc`` is imported only here, when the server starts.
"""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

from llmops._exceptions import ConfigError, InputError
from llmops.server._auth import token_ok
from llmops.server._faults import RETRY_AFTER_S, StoreHealth, is_store_fault
from llmops.tracing import MAX_BODY_BYTES, OtlpIngest, PayloadTooLargeError

if TYPE_CHECKING:
    import grpc
    from fastapi import FastAPI

__all__ = ["LOGS_METHOD", "TRACES_METHOD", "check_grpc_port", "start_grpc"]

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
_PROTOBUF = "application/x-protobuf"
#: gRPC's own worker threads: they only wait on the app's bounded ingest pool, which does the
#: work, so HTTP and gRPC together decode at most that pool's size of requests at once.
_GRPC_THREADS = 8
#: ``google.rpc.RetryInfo{retry_delay: Duration{seconds: RETRY_AFTER_S}}``, encoded by hand
#: (two nested varint fields) to need no googleapis-common-protos.
_RETRY_INFO = bytes([0x0A, 0x02, 0x08, RETRY_AFTER_S])
assert RETRY_AFTER_S < 128  # one varint byte


class _Export:
    """One ``Export`` method: raw request bytes in, an empty response (full success) out."""

    def __init__(
        self,
        ingest: Callable[[bytes, str, str | None], int],
        threads: Executor,
        health: StoreHealth,
        token: str | None,
    ) -> None:
        self.ingest = ingest
        self.threads = threads
        self.health = health
        self.token = token

    def __call__(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        import grpc

        metadata = dict(context.invocation_metadata())
        authorization = metadata.get("authorization")
        if not token_ok(self.token, authorization if isinstance(authorization, str) else None):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        # grpc has inflated a gzip request already, within max_receive_message_length
        work = functools.partial(self.ingest, request, _PROTOBUF, None)
        try:
            self.threads.submit(work).result()
        except PayloadTooLargeError as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except InputError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            if not is_store_fault(exc):
                raise  # grpc answers UNKNOWN and logs it
            message = self.health.failed(exc, "write")
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", _RETRY_INFO),))
            context.abort(grpc.StatusCode.UNAVAILABLE, message)
        self.health.succeeded("write")
        return b""  # an empty Export*ServiceResponse


def start_grpc(app: FastAPI, host: str, port: int, *, shared: bool = False) -> grpc.Server:
    """A started gRPC server on ``host:port`` over the ingest, token, ingest pool and store
    health of ``app`` (:func:`create_app`); raises :class:`ConfigError` when the port is taken.

    ``shared``: the port is bound with SO_REUSEPORT, by each of the server's workers (the
    kernel spreads connections over them); the supervisor has checked it with
    :func:`check_grpc_port`, since a shared bind cannot tell the port is taken.
    """
    import grpc

    state = app.state
    ingest: OtlpIngest = state.ingest
    threads: Executor = state.ingest_threads
    health: StoreHealth = state.store_health
    token: str | None = state.token
    services = {_service(TRACES_METHOD): _Export(ingest.ingest, threads, health, token)}
    ingest_logs = getattr(ingest, "ingest_logs", None)  # logs are served where ingest has them
    if ingest_logs is not None:
        services[_service(LOGS_METHOD)] = _Export(ingest_logs, threads, health, token)
    server = grpc.server(
        ThreadPoolExecutor(_GRPC_THREADS, thread_name_prefix="llmops-grpc"),
        handlers=[
            grpc.method_handlers_generic_handler(
                name, {"Export": grpc.unary_unary_rpc_method_handler(export)}
            )
            for name, export in services.items()
        ],
        options=[
            # applies to the inflated message too, so a gzip bomb stops at the wire cap
            ("grpc.max_receive_message_length", MAX_BODY_BYTES),
            # a second server on the port must fail, not share it (but the workers of one do)
            ("grpc.so_reuseport", 1 if shared else 0),
        ],
    )
    address = _address(host, port)
    if not shared:
        check_grpc_port(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise _in_use(address)
    server.start()
    return server


def check_grpc_port(host: str, port: int) -> None:
    """:class:`ConfigError` when ``host:port`` is taken."""
    # probed first: grpc's own failure also writes a C++ log line to stderr
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _in_use(_address(host, port)) from None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _in_use(address: str) -> ConfigError:
    return ConfigError(f"cannot listen for OTLP/gRPC on {address}: the port is in use")


def _service(method: str) -> str:
    return method.strip("/").rsplit("/", 1)[0]

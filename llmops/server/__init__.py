"""The llmops server (FastAPI): REST API at /api/v1, web UI at /ui, OTLP/HTTP at /v1/traces."""

from llmops.server._app import MAX_BODY_BYTES, create_app
from llmops.server._auth import check_bind, is_loopback, token_ok
from llmops.server._evaluators import EvaluatorRunner as EvaluatorRunner
from llmops.server._evaluators import attach_evaluators as attach_evaluators
from llmops.server._grpc import check_grpc_port as check_grpc_port  # for the CLI, not in __all__
from llmops.server._grpc import start_grpc as start_grpc  # for the CLI, not in __all__
from llmops.server._retention import RetentionRunner as RetentionRunner
from llmops.server._retention import start_retention as start_retention  # for the CLI

__all__ = [
    "MAX_BODY_BYTES",
    "check_bind",
    "create_app",
    "is_loopback",
    "token_ok",
]

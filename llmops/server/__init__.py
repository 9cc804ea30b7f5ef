"""The llmops server (FastAPI): the OTLP/HTTP receiver now; the REST API and viewer grow here."""

from llmops.server._app import MAX_BODY_BYTES, create_app
from llmops.server._auth import check_bind, is_loopback, token_ok

__all__ = ["MAX_BODY_BYTES", "check_bind", "create_app", "is_loopback", "token_ok"]

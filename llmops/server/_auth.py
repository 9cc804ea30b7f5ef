"""Access control: a bearer token, required whenever the server listens beyond localhost."""

from __future__ import annotations

import hmac
import ipaddress

from llmops._exceptions import ConfigError

__all__ = ["check_bind", "is_loopback", "token_ok"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond localhost without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without a token: set LLMOPS_SERVER_TOKEN "
            "(clients then send 'Authorization: Bearer <token>')"
        )


def token_ok(expected: str | None, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header carries the expected bearer token."""
    if not expected:
        return True
    if not authorization or not authorization.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), expected.encode())

"""Access control: a bearer token, required whenever the server listens beyond localhost, and
the host names the server answers to.

Without a token on localhost, any web page could otherwise read and write the store by DNS
rebinding: its own name, re-pointed at 127.0.0.1, passes the browser's same-origin check, but
the request still carries that name in ``Host``. So only the names the server is bound to are
answered (plus ``localhost``, ``127.0.0.1`` and ``[::1]`` on a loopback bind, and extra names
configured), and a state-changing request's ``Origin`` must be one of them too.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from llmops._exceptions import ConfigError

__all__ = ["HostPolicy", "check_bind", "is_loopback", "token_ok"]

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARDS = ("", "0.0.0.0", "::")


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


def _name(host: str) -> str:
    """A host name as compared: lower case, no brackets or final dot, IPs in canonical form."""
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _split(host: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[ipv6][:port]`` as (name, port); None when malformed."""
    value = host.strip()
    port = ""
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return None
        name, rest = value[: close + 1], value[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    elif value.count(":") == 1:
        name, port = value.split(":")
    elif ":" in value:  # a bare IPv6 address: only valid in brackets
        return None
    else:
        name = value
    has_port = len(name) < len(value)
    if not name or (has_port and not (port.isascii() and port.isdigit() and int(port) < 65536)):
        return None
    return _name(name), int(port) if has_port else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    """The ``Host`` (and ``Origin``) names the server answers to, each with a port or any.

    Built by :meth:`for_bind`. A request without ``Host`` is answered: browsers always send
    one, so it cannot be a rebinding attack.
    """

    allowed: frozenset[tuple[str, int | None]]
    any_ip: bool = False
    any_host: bool = False

    @classmethod
    def for_bind(cls, host: str, port: int | None = None, extra: Iterable[str] = ()) -> HostPolicy:
        """The names of a server bound to ``host:port`` (``port`` None: any) plus ``extra``
        names (``name`` or ``name:port``; ``*`` turns the check off).

        A wildcard bind (``0.0.0.0``, ``::``) is reached under any of the machine's addresses,
        so any IP address is answered, plus the machine's own names; IP addresses cannot be
        rebound, only names can.
        """
        allowed: set[tuple[str, int | None]] = set()
        any_host = False
        bind = _name(host)
        if bind in _WILDCARDS:
            names = {*_LOOPBACK_NAMES, socket.gethostname(), socket.getfqdn()}
        elif is_loopback(bind):
            names = {bind, *_LOOPBACK_NAMES}
        else:
            names = {bind}
        allowed.update((_name(name), port) for name in names if name)
        for item in extra:
            item = item.strip()
            if item == "*":
                any_host = True
                continue
            split = _split(item)
            if split is None:
                raise ConfigError(f"invalid allowed host '{item}': expected NAME or NAME:PORT")
            allowed.add(split)
        return cls(frozenset(allowed), any_ip=bind in _WILDCARDS, any_host=any_host)

    def also_on(self, port: int | None, others: Iterable[int]) -> HostPolicy:
        """This policy with the names allowed on ``port`` allowed on the ``others`` too (the
        same app listening on several ports)."""
        added = {(name, other) for name, bound in self.allowed if bound == port for other in others}
        if port is None or not added:
            return self
        return replace(self, allowed=self.allowed | added)

    def allows(self, host: str) -> bool:
        """Whether a ``Host`` header value (``name[:port]``) is one this server answers to."""
        if self.any_host:
            return True
        split = _split(host)
        if split is None:
            return False
        name, port = split
        if self.any_ip and _is_ip(name):
            return True
        if (name, None) in self.allowed or (name, port) in self.allowed:
            return True
        # no port in the header means the scheme's default port, which a proxy in front of
        # the server may send: the name decides
        return port is None and any(allowed == name for allowed, _ in self.allowed)

    def allows_origin(self, origin: str) -> bool:
        """Whether an ``Origin`` header names this server (``null`` and other schemes never)."""
        try:
            parts = urlsplit(origin.strip())
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and self.allows(parts.netloc)

    def describe(self) -> str:
        """The allowed names, for messages."""
        if self.any_host:
            return "any host"
        shown = sorted(
            (f"[{name}]" if ":" in name else name) + (f":{port}" if port else "")
            for name, port in self.allowed
        )
        return ", ".join(shown) + (", any IP address" if self.any_ip else "")

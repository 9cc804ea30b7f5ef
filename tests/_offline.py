"""Python source that makes a process offline: an audit hook refuses every socket connection
and name lookup that is not loopback, and says so on stderr with :data:`MARKER`, so a test
sees an attempt even where the caller swallows the error (litellm falls back quietly).

Prepend :data:`PRELUDE` to a script run with ``python -c`` (or exec it first).
"""

from __future__ import annotations

#: Written to stderr, with what was refused, for each attempt.
MARKER = "OFFLINE TEST: refused"

PRELUDE = f"""
import ipaddress as _ipaddress, sys as _sys

def _offline_local(host):
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in (None, "", "localhost"):
        return True
    try:
        address = _ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified

def _offline_hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        what = "connect to %s:%s" % args[1][:2]
        host = args[1][0]
    elif event == "socket.getaddrinfo":
        what, host = "name lookup of %s" % (args[0],), args[0]
    else:
        return
    if not _offline_local(host):
        _sys.stderr.write({MARKER!r} + " " + what + "\\n")
        raise OSError("offline test: " + what + " refused")

_sys.addaudithook(_offline_hook)
del _offline_hook
"""

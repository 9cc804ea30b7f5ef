"""Who is acting: recorded as prompt author, alias mover and, later, gate approver."""

from __future__ import annotations

import getpass
import os

__all__ = ["current_actor"]


def current_actor() -> str:
    """``LLMOPS_USER`` if set, else the OS user name."""
    configured = os.environ.get("LLMOPS_USER")
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"

"""Environment variables set for one block only, so the library leaves the process as it found it.

Some libraries read their settings from the environment once, at import (litellm's cost map
source, Hugging Face's offline mode). llmops imports them inside :func:`defaults_during`, which
sets its defaults for that import and then restores every variable it touched.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

__all__ = ["defaults_during"]

# Two threads importing at once must not restore each other's values half-way.
_lock = threading.RLock()


@contextlib.contextmanager
def defaults_during(**defaults: str) -> Iterator[None]:
    """Set each variable the process does not set already, for the block only.

    A value the user set wins (as with ``os.environ.setdefault``); afterwards the variables
    llmops set are removed again.
    """
    with _lock:
        added = [name for name in defaults if name not in os.environ]
        for name in added:
            os.environ[name] = defaults[name]
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)

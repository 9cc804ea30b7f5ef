"""Plugins: installed packages add scorers, integrations, loaders and providers by name.

A package declares entry points in one of ``GROUPS``; llmops looks a group up only when a name
is not one of its own (an unknown scorer type, integration, file type or model provider), and
loads only the entry point of that name, so a broken plugin fails with an error naming it and
never affects any other name::

    [project.entry-points."llmops.scorers"]
    shouting = "my_package.scorers:Shouting"
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points

from llmops._exceptions import PluginError

__all__ = ["GROUPS", "describe", "failed", "load_plugin", "plugin_names", "wrong_kind"]

#: The entry-point groups llmops reads, one per kind of extension.
GROUPS = ("llmops.scorers", "llmops.integrations", "llmops.loaders", "llmops.providers")

_found: dict[str, dict[str, EntryPoint]] = {}
_loaded: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def _entry_points(group: str) -> dict[str, EntryPoint]:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}")
    with _lock:
        found = _found.get(group)
        if found is None:  # read once per process: scanning installed packages takes a while
            found = _found[group] = {ep.name: ep for ep in entry_points(group=group)}
        return found


def plugin_names(group: str) -> list[str]:
    """The names the installed packages register in ``group``, sorted (nothing is imported)."""
    return sorted(_entry_points(group))


def load_plugin(group: str, name: str) -> object | None:
    """What the entry point ``name`` of ``group`` names, imported now; None without one.

    A plugin that fails to import raises ``PluginError`` naming its package and entry point.
    """
    entry = _entry_points(group).get(name)
    if entry is None:
        return None
    key = (group, name)
    if key in _loaded:
        return _loaded[key]
    try:
        value: object = entry.load()
    except Exception as exc:
        raise failed(group, name, exc) from exc
    _loaded[key] = value
    return value


def describe(entry: EntryPoint) -> str:
    """``plugin 'NAME' (group, from DIST: VALUE)``, for messages about a plugin."""
    dist = entry.dist.name if entry.dist is not None else "an installed package"
    return f"plugin '{entry.name}' ({entry.group}, from {dist}: {entry.value})"


def failed(group: str, name: str, exc: Exception) -> PluginError:
    """The error for a plugin that raised while loading or being set up."""
    entry = _entry_points(group)[name]
    return PluginError(f"{describe(entry)} failed: {type(exc).__name__}: {exc}".splitlines()[0])


def wrong_kind(group: str, name: str, expected: str) -> PluginError:
    """The error for a plugin whose object is not what its group needs."""
    entry = _entry_points(group)[name]
    return PluginError(f"{describe(entry)} is not {expected}")

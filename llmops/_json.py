"""The type of JSON data, for signatures that take or return parsed JSON."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JSONValue"]

#: A value ``json.loads`` can return.
JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

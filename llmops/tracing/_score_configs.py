"""Score configs: the declared shape of a score name (as Langfuse's score configs). A config
says whether ``helpful`` is a number (optionally in a range), true/false, or one of a few
labels; annotation queues label with configs, and the scores API checks scores whose name has
one. Scores whose name has no config stay free-form.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from llmops._exceptions import InputError
from llmops.store import Store, named_row
from llmops.store import score_configs as _T  # Core: importing tracing never builds the models
from llmops.tracing._scores import DATA_TYPES, MAX_LABEL, MAX_NAME, TraceScore

__all__ = [
    "MAX_CATEGORIES",
    "ScoreConfig",
    "check_against_configs",
    "create_score_config",
    "get_score_config",
    "list_score_configs",
]

#: Labels of a categorical config: a choice a person makes at a glance, not a taxonomy.
MAX_CATEGORIES = 50
MAX_DESCRIPTION = 2000
# A score name usable everywhere it is typed: in score filters (``helpful<0.5``) and in
# ``queues label ... NAME=VALUE``, so no whitespace, comparison signs or control characters.
_CONFIG_NAME = re.compile(r"[^\s<>=!\x00-\x1f\x7f-\x9f\u2028\u2029]{1,128}")  # MAX_NAME
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _number_text(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class ScoreConfig:
    """The shape of scores named ``name``: NUMERIC (in ``min_value``..``max_value`` when set),
    BOOLEAN, or CATEGORICAL (one of ``categories``)."""

    name: str
    data_type: str
    categories: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_type": self.data_type,
            "categories": list(self.categories),
            "min_value": self.min_value,
            "max_value": self.max_value,
            "description": self.description,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }

    def check(self, value: object, where: str) -> bool | float | str:
        """``value`` as a score value of this config (True/False, a number or a label); a value
        of the wrong type or outside the config is an ``InputError`` naming ``where``."""
        name = self.name
        if self.data_type == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            raise InputError(f"{where}: '{name}' is true or false, got {_shown(value)}")
        if self.data_type == "CATEGORICAL":
            if isinstance(value, str) and value in self.categories:
                return value
            allowed = ", ".join(self.categories)
            raise InputError(f"{where}: '{name}' must be one of {allowed}, got {_shown(value)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: '{name}' is a number, got {_shown(value)}")
        try:
            number = float(value)
        except OverflowError:  # an int past the float range
            number = math.inf
        if not math.isfinite(number):
            raise InputError(f"{where}: '{name}' must be a finite number")
        low, high = self.min_value, self.max_value
        if (low is not None and number < low) or (high is not None and number > high):
            shown = [None if bound is None else _number_text(bound) for bound in (low, high)]
            bounds = (
                f"between {shown[0]} and {shown[1]}"
                if None not in shown
                else f"at least {shown[0]}"
                if shown[0] is not None
                else f"at most {shown[1]}"
            )
            raise InputError(f"{where}: '{name}' must be {bounds}, got {_number_text(number)}")
        return number


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value[:60])
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)[:60]
    return f"a {type(value).__name__}"


def _bound(where: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {_shown(value)}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > 1e300:
        raise InputError(f"{where}: must be a finite number")
    return number


def _checked(
    name: object,
    data_type: object,
    categories: object,
    min_value: object,
    max_value: object,
    description: object,
) -> ScoreConfig:
    if not isinstance(name, str) or not _CONFIG_NAME.fullmatch(name):
        raise InputError(
            f"invalid score config name {str(name)[:80]!r}: 1 to {MAX_NAME} characters without "
            "spaces, control characters or < > = !"
        )
    kind = data_type.upper() if isinstance(data_type, str) else data_type
    if kind not in DATA_TYPES:
        raise InputError(
            f"score config '{name}': data_type must be one of {', '.join(DATA_TYPES)}, "
            f"got {_shown(data_type)}"
        )
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InputError(f"score config '{name}': description must be text of at most 2000 chars")
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise InputError(f"score config '{name}': categories must be a list of labels")
    labels: list[str] = []
    for index, label in enumerate(categories):
        where = f"score config '{name}': categories[{index}]"
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"{where}: a label must be non-empty text")
        if len(label) > MAX_LABEL or _CONTROL.search(label):
            raise InputError(f"{where}: at most {MAX_LABEL} characters, no control characters")
        if label in labels:
            raise InputError(f"{where}: '{label}' is given twice")
        labels.append(label)
    low = _bound(f"score config '{name}': min_value", min_value)
    high = _bound(f"score config '{name}': max_value", max_value)
    if kind == "CATEGORICAL":
        if not 1 <= len(labels) <= MAX_CATEGORIES:
            raise InputError(
                f"score config '{name}': a CATEGORICAL config needs 1 to {MAX_CATEGORIES} "
                f"categories, got {len(labels)}"
            )
    elif labels:
        raise InputError(f"score config '{name}': categories are for CATEGORICAL configs only")
    if kind != "NUMERIC" and (low is not None or high is not None):
        raise InputError(f"score config '{name}': min/max are for NUMERIC configs only")
    if low is not None and high is not None and low > high:
        raise InputError(
            f"score config '{name}': min_value {_number_text(low)} is above "
            f"max_value {_number_text(high)}"
        )
    return ScoreConfig(str(name), str(kind), tuple(labels), low, high, description)


def _config_of(row: Any) -> ScoreConfig:
    return ScoreConfig(
        name=row.name,
        data_type=row.data_type,
        categories=tuple(row.categories or ()),
        min_value=row.min_value,
        max_value=row.max_value,
        description=row.description,
        created_at=row.created_at,
    )


def create_score_config(
    store: Store,
    name: str,
    data_type: str,
    *,
    categories: Sequence[str] = (),
    min_value: float | None = None,
    max_value: float | None = None,
    description: str = "",
) -> ScoreConfig:
    """Declare the shape of score ``name``; a bad spec or a name already declared is an
    ``InputError`` (configs are not edited: scores already given were checked against it)."""
    config = _checked(name, data_type, categories, min_value, max_value, description)
    now = datetime.now(UTC)
    try:
        with store.write() as session:
            session.connection().execute(
                _T.insert().values(
                    name=config.name,
                    data_type=config.data_type,
                    categories=list(config.categories) or None,
                    min_value=config.min_value,
                    max_value=config.max_value,
                    description=config.description,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise InputError(f"score config '{config.name}' already exists") from None
    return ScoreConfig(
        config.name,
        config.data_type,
        config.categories,
        config.min_value,
        config.max_value,
        config.description,
        now,
    )


def list_score_configs(store: Store) -> list[ScoreConfig]:
    """Every score config, by name."""
    with store.read() as connection:
        rows = connection.execute(select(_T).order_by(_T.c.name)).all()
    return [_config_of(row) for row in rows]


def get_score_config(store: Store, name: str) -> ScoreConfig:
    """The config of score ``name``; ``NotFoundError`` when there is none."""
    with store.read() as connection:
        row = named_row(connection, _T, name, "score config")
    return _config_of(row)


def configs_named(store: Store, names: Sequence[str]) -> dict[str, ScoreConfig]:
    """The configs of those of ``names`` that have one."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with store.read() as connection:
        rows = connection.execute(select(_T).where(_T.c.name.in_(wanted))).all()
    return {row.name: _config_of(row) for row in rows}


def check_against_configs(store: Store, scores: Sequence[TraceScore]) -> None:
    """Refuse (``InputError`` naming ``scores[i]``) the first score whose name has a config it
    does not fit: a value of another type, outside the range, or not one of the labels."""
    configs = configs_named(store, [score.name for score in scores])
    for index, score in enumerate(scores):
        config = configs.get(score.name)
        if config is None:
            continue
        where = f"scores[{index}]"
        shown = score.shown
        numeric = {"NUMERIC", "BOOLEAN"}
        if config.data_type != score.data_type and {config.data_type, score.data_type} != numeric:
            # both store 0/1 in ``value``: a NUMERIC config takes true/false, a BOOLEAN one 0/1
            raise InputError(
                f"{where}: '{score.name}' is a {config.data_type} score, got {_shown(shown)}"
            )
        config.check(float(shown) if isinstance(shown, bool) else shown, where)

"""Datasets as versioned entities in the store: immutable, content-hashed versions (``qa@3``)
built from a file, from traces or from given rows; their aliases move through the store's one
alias service, registered here as kind ``dataset``. Other sources (an annotation queue's
labelled items) build their rows and call :func:`create_dataset` with their own ``source``.

A version's rows are stored whole (``data``), with the reference answer and, for rows taken
from traces, the trace and its session, user, model and scores as metadata. Files and traces
become rows in :mod:`llmops.evals._dataset_sources`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.exc import IntegrityError

from llmops._digits import ascii_int
from llmops._exceptions import InputError, StoreError
from llmops._identity import current_actor
from llmops.evals._datasets import Dataset, _Unreadable, rows_to_dataset
from llmops.store import (
    LATEST,
    Store,
    Versioned,
    aliases_of_kind,
    named_row,
    register_alias_subject,
    version_check,
    version_row,
    version_rows,
)
from llmops.store.models import (
    AliasRecord,
    DatasetRecord,
    DatasetRowRecord,
    DatasetVersionRecord,
    table_of,
    utcnow,
)

__all__ = [
    "MAX_ROWS",
    "MAX_ROW_BYTES",
    "DatasetDiff",
    "DatasetInfo",
    "DatasetRow",
    "DatasetVersion",
    "create_dataset",
    "dataset_rows",
    "diff_dataset_versions",
    "get_dataset_version",
    "list_dataset_versions",
    "list_datasets",
    "load_registered_dataset",
    "parse_dataset_ref",
]

#: Rows per version: a dataset is eval input read into memory whole, not a data lake.
MAX_ROWS = 100_000
#: Bytes of one row as JSON: a larger row is almost always a mistake (a whole document dump).
MAX_ROW_BYTES = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_REF = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,199})@([A-Za-z0-9_-]{1,64})$")
_INPUT_KEYS = ("input", "question", "query", "prompt")
_RETRIES = 8
_INSERT_CHUNK = 1000
_D = table_of(DatasetRecord)
_V = table_of(DatasetVersionRecord)
_DATASETS = Versioned("dataset", _D, _V, _V.c.dataset_id)
_R = table_of(DatasetRowRecord)
_A = table_of(AliasRecord)


@dataclass(frozen=True)
class DatasetRow:
    """One stored row: its position, the row as read, the reference answer, and metadata."""

    idx: int
    data: dict[str, Any]
    #: JSON data (a string, number, list...): the reference answer, None when unknown
    expected: object = None
    metadata: dict[str, Any] | None = None
    trace_id: str | None = None

    @property
    def key(self) -> str:
        """What identifies a row across versions: a hash of its input (the whole row when it
        has no input column), so a changed reference answer is a changed row."""
        column = next((c for c in _INPUT_KEYS if c in self.data), None)
        value = self.data[column] if column else self.data
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "idx": self.idx,
            "data": self.data,
            "expected": self.expected,
            "metadata": self.metadata,
            "trace_id": self.trace_id,
        }


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable version of a dataset."""

    name: str
    version: int
    content_hash: str
    row_count: int
    columns: list[str]
    source: dict[str, Any] | None
    created_by: str
    note: str
    created_at: datetime | None
    #: False when creating it found the same content already stored (nothing was written)
    created: bool = True

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "row_count": self.row_count,
            "columns": self.columns,
            "source": self.source,
            "created_by": self.created_by,
            "note": self.note,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as listed: its newest version, its row count and its aliases."""

    name: str
    description: str
    latest: int
    row_count: int
    aliases: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "latest": self.latest,
            "row_count": self.row_count,
            "aliases": self.aliases,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class DatasetDiff:
    """Rows of ``new`` that ``old`` lacks, rows ``new`` dropped, and rows whose input is in both
    but whose content differs (``(old, new)`` pairs), matched by :attr:`DatasetRow.key`."""

    old: str
    new: str
    added: list[DatasetRow]
    removed: list[DatasetRow]
    changed: list[tuple[DatasetRow, DatasetRow]]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "added": [row.to_dict() for row in self.added],
            "removed": [row.to_dict() for row in self.removed],
            "changed": [{"old": a.to_dict(), "new": b.to_dict()} for a, b in self.changed],
            "unchanged": self.unchanged,
        }


def check_dataset_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else an ``InputError`` saying what is allowed."""
    if not _NAME.match(name):
        raise InputError(
            f"invalid dataset name {name!r}: use letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    return name


def parse_dataset_ref(text: str) -> tuple[str, int | str] | None:
    """``qa@3`` -> ``("qa", 3)``, ``qa@production`` -> ``("qa", "production")``; None when
    ``text`` is not ``NAME@SELECTOR``."""
    found = _REF.match(text.strip())
    if found is None:
        return None
    selector = found.group(2)
    number = ascii_int(selector)
    return found.group(1), selector if number is None else number


def _canonical(row: DatasetRow) -> bytes:
    return orjson.dumps(
        [row.data, row.expected, row.metadata, row.trace_id], option=orjson.OPT_SORT_KEYS
    )


def _content_hash(rows: Sequence[DatasetRow]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(_canonical(row))
        digest.update(b"\n")
    return digest.hexdigest()


def _checked_rows(
    rows: Iterable[Any],
    *,
    where: str,
    line_numbers: Sequence[int] | None,
    max_rows: int,
) -> list[DatasetRow]:
    """Rows as :class:`DatasetRow`; the first bad one is an ``InputError`` naming its line."""
    checked: list[DatasetRow] = []
    for position, row in enumerate(rows):
        label = (
            f"{where}:{line_numbers[position]}" if line_numbers else f"{where}: row {position + 1}"
        )
        if position >= max_rows:
            raise InputError(f"{label}: more than {max_rows} rows, the limit of a dataset version")
        if isinstance(row, DatasetRow):
            data, expected, metadata, trace_id = row.data, row.expected, row.metadata, row.trace_id
        else:
            data, expected, metadata, trace_id = row, None, None, None
        if isinstance(data, _Unreadable):
            raise InputError(f"{label}: {data.problem}")
        if not isinstance(data, Mapping) or not data:
            raise InputError(f"{label}: a row must be a non-empty object (column -> value)")
        try:
            size = len(orjson.dumps([data, expected, metadata]))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise InputError(f"{label}: row is not JSON data: {exc}") from None
        if size > MAX_ROW_BYTES:
            raise InputError(f"{label}: row is {size} bytes as JSON, over {MAX_ROW_BYTES}")
        data = dict(data)
        if expected is None:
            expected = data.get("expected")
        checked.append(DatasetRow(len(checked), data, expected, metadata, trace_id))
    if not checked:
        raise InputError(f"{where}: dataset has no rows")
    return checked


def _version_of(name: str, row: Any, *, created: bool = True) -> DatasetVersion:
    return DatasetVersion(
        name=name,
        version=row.version,
        content_hash=row.content_hash,
        row_count=row.row_count,
        columns=list(row.columns or []),
        source=row.source,
        created_by=row.created_by,
        note=row.note,
        created_at=row.created_at,
        created=created,
    )


def _try_create(
    store: Store,
    name: str,
    rows: list[DatasetRow],
    digest: str,
    values: dict[str, Any],
    description: str,
) -> DatasetVersion:
    with store.write() as session:
        connection = session.connection()
        found = connection.execute(select(_D).where(_D.c.name == name)).first()
        if found is None:
            dataset_id = connection.execute(
                _D.insert().values(name=name, description=description, created_at=utcnow())
            ).inserted_primary_key[0]  # type: ignore[index]
        else:
            dataset_id = found.id
            if description and description != found.description:
                connection.execute(
                    _D.update().where(_D.c.id == dataset_id).values(description=description)
                )
        existing = connection.execute(
            select(_V).where(_V.c.dataset_id == dataset_id, _V.c.content_hash == digest)
        ).first()
        if existing is not None:  # same content: the version that holds it, nothing written
            return _version_of(name, existing, created=False)
        latest = connection.execute(
            select(func.max(_V.c.version)).where(_V.c.dataset_id == dataset_id)
        ).scalar()
        version = (latest or 0) + 1
        columns = sorted({str(key) for row in rows for key in row.data})
        now = utcnow()
        record = {
            "dataset_id": dataset_id,
            "version": version,
            "content_hash": digest,
            "row_count": len(rows),
            "columns": columns,
            "created_at": now,
            **values,
        }
        connection.execute(_V.insert().values(record))
        # bulk Core inserts: one ORM object per row costs seconds at the row limit
        for start in range(0, len(rows), _INSERT_CHUNK):
            connection.execute(
                _R.insert(),
                [
                    {
                        "dataset_id": dataset_id,
                        "version": version,
                        "idx": row.idx,
                        "data": row.data,
                        "expected": row.expected,
                        "metadata": row.metadata,
                        "trace_id": row.trace_id,
                    }
                    for row in rows[start : start + _INSERT_CHUNK]
                ],
            )
        return DatasetVersion(
            name, version, digest, len(rows), columns, values["source"],
            values["created_by"], values["note"], now,
        )  # fmt: skip


def create_dataset(
    store: Store,
    name: str,
    rows: Iterable[Mapping[str, Any] | DatasetRow],
    *,
    source: Mapping[str, Any] | None = None,
    description: str = "",
    note: str = "",
    created_by: str | None = None,
    where: str = "rows",
    line_numbers: Sequence[int] | None = None,
    max_rows: int = MAX_ROWS,
) -> DatasetVersion:
    """The version of dataset ``name`` holding ``rows``: the existing one with the same content
    (``created`` False), or the next number. Rows are checked first: a bad one names its row
    (or ``where:line``) and nothing is stored."""
    check_dataset_name(name)
    checked = _checked_rows(rows, where=where, line_numbers=line_numbers, max_rows=max_rows)
    digest = _content_hash(checked)
    values = {
        "source": dict(source) if source else None,
        "created_by": (created_by if created_by is not None else current_actor())[:200],
        "note": note,
    }
    for _ in range(_RETRIES):
        try:
            return _try_create(store, name, checked, digest, values, description)
        except IntegrityError:  # a concurrent writer took the name or the number: retry
            continue
    raise StoreError(f"could not create dataset '{name}' after {_RETRIES} concurrent conflicts")


def get_dataset_version(store: Store, name: str, selector: int | str = LATEST) -> DatasetVersion:
    """A version by number, by alias, or the newest (``latest``)."""
    with store.read() as connection:
        row = version_row(connection, _DATASETS, name, selector)
    return _version_of(name, row, created=False)


def list_dataset_versions(store: Store, name: str) -> list[DatasetVersion]:
    """Every version of a dataset, newest first."""
    with store.read() as connection:
        rows = version_rows(connection, _DATASETS, name)
    return [_version_of(name, row, created=False) for row in rows]


def list_datasets(store: Store) -> list[DatasetInfo]:
    """Every dataset with its newest version, that version's row count and its aliases."""
    with store.read() as connection:
        newest = (
            select(_V.c.dataset_id, func.max(_V.c.version).label("latest"))
            .group_by(_V.c.dataset_id)
            .subquery()
        )
        rows = connection.execute(
            select(_D, newest.c.latest, _V.c.row_count)
            .join(newest, newest.c.dataset_id == _D.c.id)
            .join(_V, (_V.c.dataset_id == _D.c.id) & (_V.c.version == newest.c.latest))
            .order_by(_D.c.name)
        ).all()
    aliases = aliases_of_kind(store, "dataset")
    return [
        DatasetInfo(
            name=row.name,
            description=row.description,
            latest=row.latest,
            row_count=row.row_count,
            aliases=aliases.get(row.name, {}),
            created_at=row.created_at,
        )
        for row in rows
    ]


def dataset_rows(
    store: Store, name: str, version: int, *, limit: int | None = None, after: int = -1
) -> list[DatasetRow]:
    """The rows of ``name@version`` in order, from position ``after + 1`` (a cursor)."""
    with store.read() as connection:
        dataset = named_row(connection, _D, name, "dataset")
        # expected read as JSON text: SQLite's JSON column has numeric affinity, so a number
        # stored there comes back as a number, which the JSON type then fails to decode
        expected = cast(_R.c.expected, Text).label("expected")
        query = (
            select(_R.c.idx, _R.c.data, expected, _R.c.metadata, _R.c.trace_id)
            .where(_R.c.dataset_id == dataset.id, _R.c.version == version, _R.c.idx > after)
            .order_by(_R.c.idx)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = connection.execute(query).all()
    return [
        DatasetRow(
            r.idx,
            dict(r.data),
            None if r.expected is None else orjson.loads(r.expected),
            r.metadata,
            r.trace_id,
        )
        for r in rows
    ]


def diff_dataset_versions(
    store: Store, name: str, old: int | str, new: int | str = LATEST
) -> DatasetDiff:
    """What changed from version ``old`` to ``new`` of a dataset, row by row."""
    before = get_dataset_version(store, name, old)
    after = get_dataset_version(store, name, new)
    old_rows = dataset_rows(store, name, before.version)
    new_rows = dataset_rows(store, name, after.version)

    def keyed(rows: list[DatasetRow]) -> dict[tuple[str, int], DatasetRow]:
        seen: Counter[str] = Counter()
        found = {}
        for row in rows:  # a repeated input is matched by its occurrence
            found[(row.key, seen[row.key])] = row
            seen[row.key] += 1
        return found

    a, b = keyed(old_rows), keyed(new_rows)
    changed = [(a[k], b[k]) for k in a if k in b and _canonical(a[k]) != _canonical(b[k])]
    return DatasetDiff(
        old=before.ref,
        new=after.ref,
        added=[row for k, row in b.items() if k not in a],
        removed=[row for k, row in a.items() if k not in b],
        changed=changed,
        unchanged=sum(1 for k in a if k in b) - len(changed),
    )


def load_registered_dataset(
    store: Store,
    name: str,
    selector: int | str,
    *,
    expected_field: str | None = "expected",
    input_field: str | None = None,
    required: Sequence[str] = (),
    on_invalid_row: Literal["fail", "skip"] = "fail",
) -> Dataset:
    """A stored version as eval cases; its content hash is the version's, and ``ref`` names it
    (``qa@3``), so runs and gate evidence record exactly which version they used."""
    version = get_dataset_version(store, name, selector)
    rows = dataset_rows(store, name, version.version)
    loaded = rows_to_dataset(
        [row.data for row in rows],
        where=f"dataset {version.ref}",
        expected_field=expected_field,
        input_field=input_field,
        required=required,
        on_invalid_row=on_invalid_row,
        content_hash=version.content_hash,
    )
    return Dataset(
        path=None,
        cases=loaded.cases,
        content_hash=loaded.content_hash,
        skipped=loaded.skipped,
        ref=version.ref,
    )


register_alias_subject("dataset", check_version=version_check(_DATASETS))

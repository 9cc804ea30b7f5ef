"""``GET /api/v1/datasets``: stored datasets, their versions and a version's rows (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from llmops._digits import ascii_int
from llmops._exceptions import InputError
from llmops.evals import (
    DatasetInfo,
    DatasetRow,
    dataset_rows,
    get_dataset_version,
    list_dataset_versions,
    list_datasets,
)
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import Cursor, Limit, decode_cursor, json_response, page

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

Name = Annotated[str, Path(min_length=1, max_length=200)]
Selector = Annotated[
    str, Path(min_length=1, max_length=64, description="A version number or an alias.")
]


@router.get("", summary="Datasets by name, with newest version, its row count and aliases")
def datasets(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    found = [d for d in list_datasets(store) if after is None or d.name > after[0]]
    return page(found[: limit + 1], limit, key=lambda d: (d.name,), render=DatasetInfo.to_dict)


@router.get("/{name}", summary="A dataset with every version (newest first) and its aliases")
def dataset(store: StoreDep, name: Name) -> Response:
    versions = list_dataset_versions(store, name)  # a missing dataset is a 404
    info = next(d for d in list_datasets(store) if d.name == name)
    return json_response({**info.to_dict(), "versions": [v.to_dict() for v in versions]})


@router.get(
    "/{name}/versions/{selector}/rows", summary="The rows of a version, in order, a page at a time"
)
def rows(
    store: StoreDep, name: Name, selector: Selector, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    number = ascii_int(selector)
    if number is None and not selector.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"invalid version {selector!r}: a number or an alias")
    version = get_dataset_version(store, name, selector if number is None else number)
    after = decode_cursor(cursor, (int,))
    found = dataset_rows(
        store, name, version.version, limit=limit + 1, after=after[0] if after else -1
    )
    return page(
        found,
        limit,
        key=lambda r: (r.idx,),
        render=DatasetRow.to_dict,
        name=name,
        version=version.version,
        row_count=version.row_count,
    )

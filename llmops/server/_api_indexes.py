"""``/api/v1/indexes``: RAG index versions with their manifests, aliases with history, the diff
of two versions, and a query box that retrieves dense, BM25 and hybrid results side by side."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import func
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from llmops._exceptions import InputError, NotFoundError
from llmops.rag import IndexInfo, Retrieved, diff_indexes, list_indexes, resolve_index
from llmops.server._api_deps import StoreDep, json_body
from llmops.server._pagination import Cursor, Limit, decode_cursor, json_response, page
from llmops.store import Store, alias_history, aliases_of_kind
from llmops.store.models import RagIndexRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/indexes", tags=["indexes"])

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,199}$")]
Ref = Annotated[
    str, Query(min_length=1, max_length=64, description="A version number or an alias.")
]

#: A query's text and k: the embedder truncates long text anyway, and k bounds the reply.
MAX_QUERY_CHARS = 2000
MAX_K = 50
MAX_QUERY_BODY_BYTES = 16 * 1024
#: Files a version's manifest shows in the list of versions (the rest are counted).
FILES_SHOWN = 200
HISTORY_LIMIT = 200
DIFF_LIMIT = Annotated[
    int, Query(ge=1, le=5000, description="Chunks shown per list (added, removed, changed).")
]

_QUERY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5},
                        "version": {"type": "string", "maxLength": 64},
                    },
                    "required": ["text"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _version_dict(info: IndexInfo) -> dict[str, Any]:
    data = info.to_dict()
    data["file_count"] = len(info.files)
    data["files"] = info.files[:FILES_SHOWN]
    return data


@router.get("", summary="RAG indexes: newest version, version count, aliases, by name")
def indexes(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    query = select(
        RagIndexRecord.pipeline,
        func.max(RagIndexRecord.version).label("latest"),
        func.count().label("versions"),
    ).group_by(col(RagIndexRecord.pipeline))
    if after is not None:
        query = query.where(col(RagIndexRecord.pipeline) > after[0])
    query = query.order_by(col(RagIndexRecord.pipeline)).limit(limit + 1)
    with store.session() as session:
        rows = list(session.exec(query).all())
    aliases = aliases_of_kind(store, "index", [row[0] for row in rows])
    return page(
        rows,
        limit,
        key=lambda r: (r[0],),
        render=lambda r: {
            "name": r[0],
            "latest": r[1],
            "versions": r[2],
            "aliases": aliases.get(r[0], {}),
        },
    )


@router.get("/{name}", summary="An index: every version with its manifest, aliases and history")
def index(store: StoreDep, name: Name) -> Response:
    versions = list_indexes(store, name)
    if not versions:
        raise NotFoundError(f"RAG index '{name}' not found")
    history = alias_history(store, "index", name)[:HISTORY_LIMIT]
    return json_response(
        {
            "name": name,
            "aliases": aliases_of_kind(store, "index", [name]).get(name, {}),
            "versions": [_version_dict(v) for v in versions],
            "alias_history": [event.to_dict() for event in history],
        }
    )


def _ref(name: str, selector: str) -> str:
    if not selector.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"invalid version {selector!r}: a number or an alias")
    return f"{name}@{selector}"


@router.get("/{name}/diff", summary="Chunks added, removed and changed from version a to b")
def diff(store: StoreDep, name: Name, a: Ref, b: Ref, limit: DIFF_LIMIT = 500) -> Response:
    first, second = resolve_index(store, _ref(name, a)), resolve_index(store, _ref(name, b))
    found = diff_indexes(store, first.ref, second.ref)

    def shown(chunks: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [{"source": source, "position": position} for source, position in chunks[:limit]]

    return json_response(
        {
            "a": first.ref,
            "b": second.ref,
            "counts": {
                "added": len(found.added),
                "removed": len(found.removed),
                "changed": len(found.changed),
            },
            "added": shown(found.added),
            "removed": shown(found.removed),
            "changed": shown(found.changed),
        }
    )


def _query_body(body: Any) -> tuple[str, int, str | None]:
    if not isinstance(body, dict):
        raise InputError("body: expected a JSON object with 'text', 'k' and 'version'")
    unknown = sorted(set(body) - {"text", "k", "version"})
    if unknown:
        raise InputError(f"body: unknown field '{unknown[0][:40]}'")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError("text: a non-empty string")
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"text: at most {MAX_QUERY_CHARS:,} characters")
    k = body.get("k", 5)
    if type(k) is not int or not 1 <= k <= MAX_K:
        raise InputError(f"k: an integer from 1 to {MAX_K}")
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 64):
        raise InputError("version: a version number or an alias")
    return text, k, version


def _results(chunks: list[Retrieved]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in chunks]


def _retrieve(store: Store, ref: str, text: str, k: int) -> dict[str, Any]:
    # lazy: the query box loads the embedder and chromadb only when it is used
    from llmops.config import load_config
    from llmops.rag import Retriever

    info = resolve_index(store, ref)
    retriever = Retriever(info, load_config().data_dir)
    # untraced: looking at an index from the viewer is not an application's retrieval
    return {
        "ref": info.ref,
        "embedder": info.embedder,
        "k": k,
        "dense": _results(retriever.dense(text, k)),
        "bm25": _results(retriever.bm25(text, k)),
        "hybrid": _results(retriever.hybrid(text, k)),
    }


@router.post(
    "/{name}/query",
    summary="Retrieve from a version: dense, BM25 and hybrid results side by side, with scores",
    openapi_extra=_QUERY_BODY,
)
async def query(request: Request, store: StoreDep, name: Name) -> Response:
    """Body: ``text`` (at most 2,000 characters), ``k`` (1 to 50, default 5), ``version`` (a
    number or an alias; default the newest ready version)."""
    text, k, version = _query_body(await json_body(request, MAX_QUERY_BODY_BYTES))
    ref = _ref(name, version) if version is not None else name
    return json_response(await run_in_threadpool(_retrieve, store, ref, text, k))

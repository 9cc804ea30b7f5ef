"""Serving endpoints in the store: records, queries, liveness and runtime LoRA adapters."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import update
from sqlmodel import col, select

from llmops._exceptions import InputError, ModelError, NotFoundError
from llmops.store import Store
from llmops.store.models import ServingEndpointRecord, utcnow

__all__ = [
    "ServingEndpoint",
    "get_endpoint",
    "list_endpoints",
    "load_adapter",
    "log_tail",
    "pid_alive",
    "unload_adapter",
    "update_endpoint",
]

LIVE = ("starting", "ready")


@dataclass(frozen=True)
class ServingEndpoint:
    """One served model: where it listens, which process serves it, and its state."""

    id: str
    model: str
    backend: str
    served_model_name: str
    api_base: str
    host: str
    port: int
    pid: int | None
    command: list[str]
    status: str
    restarts: int = 0
    log_path: str = ""
    adapters: dict[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @classmethod
    def of(cls, record: ServingEndpointRecord) -> ServingEndpoint:
        return cls(
            id=record.id,
            model=record.model,
            backend=record.backend,
            served_model_name=record.served_model_name,
            api_base=record.api_base,
            host=record.host,
            port=record.port,
            pid=record.pid,
            command=list(record.command or []),
            status=record.status,
            restarts=record.restarts,
            log_path=record.log_path,
            adapters=dict(record.adapters or {}),
            started_at=record.started_at,
            stopped_at=record.stopped_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__  # keeps the field order
        }


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists (a zombie counts as gone)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); its state in /proc says Z
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def update_endpoint(store: Store, endpoint_id: str, **values: Any) -> ServingEndpoint:
    """Set fields of an endpoint record; ``NotFoundError`` when there is none."""
    with store.write() as session:
        record = session.get(ServingEndpointRecord, endpoint_id)
        if record is None:
            raise NotFoundError(f"serving endpoint '{endpoint_id}' not found")
        for name, value in values.items():
            setattr(record, name, value)
        session.add(record)
        session.flush()
        return ServingEndpoint.of(record)


def _refresh(store: Store, record: ServingEndpointRecord) -> ServingEndpoint:
    """A live record whose process is gone (and whose manager did not say so) is settled:
    ``failed`` if it never got ready, ``crashed`` if it did.

    Its manager (a supervisor, maybe in another process) may be recording its own verdict
    at the same moment, so this one is a single conditional UPDATE: it applies only while
    the row still has the status and pid read here, atomically on both backends (a
    read-then-write would overwrite a verdict committed in between on PostgreSQL). Either
    way the verdicts agree: a server that exits before it is ready has failed.
    """
    if record.status not in LIVE or record.pid is None or pid_alive(record.pid):
        # no pid yet: the process is being spawned, there is nothing to check
        return ServingEndpoint.of(record)
    verdict = "failed" if record.status == "starting" else "crashed"
    table = ServingEndpointRecord
    with store.write() as session:
        session.execute(
            update(table)
            .where(
                col(table.id) == record.id,
                col(table.status) == record.status,
                col(table.pid) == record.pid,
            )
            .values(status=verdict, stopped_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        current = session.get(table, record.id, populate_existing=True)
        assert current is not None
        return ServingEndpoint.of(current)


def get_endpoint(store: Store, endpoint_id: str) -> ServingEndpoint:
    """The endpoint ``endpoint_id`` with its status checked against its process."""
    with store.session() as session:
        record = session.get(ServingEndpointRecord, endpoint_id)
    if record is None:
        raise NotFoundError(f"serving endpoint '{endpoint_id}' not found")
    return _refresh(store, record)


def list_endpoints(store: Store, *, all_: bool = True) -> list[ServingEndpoint]:
    """Endpoints, newest first (only starting or ready ones without ``all_``)."""
    query = select(ServingEndpointRecord).order_by(col(ServingEndpointRecord.started_at).desc())
    with store.session() as session:
        records = list(session.exec(query).all())
    endpoints = [_refresh(store, record) for record in records]
    return [e for e in endpoints if all_ or e.status in LIVE]


def log_tail(path: str | Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def _post(url: str, body: dict[str, Any], timeout_s: float) -> None:
    request = urllib.request.Request(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()[:300]
        raise ModelError(f"POST {url} failed: HTTP {exc.code}: {detail}") from None
    except OSError as exc:
        raise ModelError(f"POST {url} failed: {exc}") from None


def _live_vllm(store: Store, endpoint_id: str) -> ServingEndpoint:
    endpoint = get_endpoint(store, endpoint_id)
    if endpoint.backend != "vllm":
        raise InputError(
            f"endpoint {endpoint_id} runs {endpoint.backend}: only vLLM loads adapters"
        )
    if endpoint.status != "ready":
        raise InputError(f"endpoint {endpoint_id} is {endpoint.status}, not ready")
    return endpoint


def load_adapter(
    store: Store, endpoint_id: str, name: str, path: str | Path, *, timeout_s: float = 120.0
) -> ServingEndpoint:
    """Hot-load a LoRA adapter into a running vLLM endpoint (served as model ``name``).

    vLLM must run with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` and ``--enable-lora``.
    """
    endpoint = _live_vllm(store, endpoint_id)
    _post(
        f"{endpoint.api_base}/load_lora_adapter",
        {"lora_name": name, "lora_path": str(path)},
        timeout_s,
    )
    return update_endpoint(store, endpoint_id, adapters={**endpoint.adapters, name: str(path)})


def unload_adapter(
    store: Store, endpoint_id: str, name: str, *, timeout_s: float = 60.0
) -> ServingEndpoint:
    """Unload a LoRA adapter from a running vLLM endpoint."""
    endpoint = _live_vllm(store, endpoint_id)
    _post(f"{endpoint.api_base}/unload_lora_adapter", {"lora_name": name}, timeout_s)
    adapters = {key: value for key, value in endpoint.adapters.items() if key != name}
    return update_endpoint(store, endpoint_id, adapters=adapters)

"""Tracking runs: start one, log params, tags, metrics and artifacts, end it with a status.

A run left running when the interpreter exits is ended by an ``atexit`` hook: its pending
metrics are written and it is marked ``failed`` (``killed`` after Ctrl-C) when an uncaught
exception ends the program, ``finished`` otherwise. A forked child process neither writes
its parent's pending values nor ends its parent's runs.
"""

from __future__ import annotations

import atexit
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from llmops._exceptions import InputError, LlmopsError, NotFoundError, StoreError
from llmops._identity import current_actor
from llmops.store import Store, open_store
from llmops.store.models import ExperimentRecord, TrackingRunRecord, utcnow
from llmops.tracking._artifacts import artifact_root, clean_artifact_path, log_files
from llmops.tracking._metrics import MetricBuffer, flusher

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.tracking._queries import Artifact

__all__ = ["ActiveRun", "git_commit", "start_run"]

_ENDED = ("finished", "failed", "killed")
_MAX_KEY = 250


def git_commit(folder: str | os.PathLike[str] | None = None) -> str | None:
    """The commit checked out in ``folder`` (default: the working directory), or None."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or len(commit) not in (40, 64):
        return None
    return commit


def _name(value: object, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise InputError(f"{what} {value[:40]!r}... is longer than {limit} characters")
    return value


def _json(value: Any) -> Any:
    def fallback(item: Any) -> Any:
        return item.item() if hasattr(item, "item") else str(item)  # numpy scalars, paths...

    return orjson.loads(orjson.dumps(value, default=fallback, option=orjson.OPT_NON_STR_KEYS))


def _redacted(values: dict[str, Any], config: Config | None) -> dict[str, Any]:
    """Params or tags with secrets masked as the tracing settings say (never cut)."""
    if not values:
        return values
    # lazy: keeps import llmops light
    from llmops.tracing import current_redactor

    return current_redactor(config).with_max_chars(2**62).attributes(values)


def _same(a: Any, b: Any) -> bool:
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _experiment_id(store: Store, name: str) -> int:
    """The id of experiment ``name``, created on first use (safe against concurrent creators)."""
    for _ in range(3):
        with store.session() as session:
            found = session.exec(
                select(ExperimentRecord.id).where(col(ExperimentRecord.name) == name)
            ).first()
        if found is not None:
            return found
        try:
            with store.write() as session:
                record = ExperimentRecord(name=name)
                session.add(record)
                session.flush()
                assert record.id is not None
                return record.id
        except IntegrityError:  # created meanwhile by another process: read it again
            continue
    raise StoreError(f"cannot create experiment '{name}'")


def _exit_status(exc: BaseException | None) -> str:
    if exc is None:
        return "finished"
    if isinstance(exc, KeyboardInterrupt):
        return "killed"
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return "finished"
    return "failed"


class ActiveRun:
    """A running tracking run; use it as a context manager or call :meth:`end`."""

    def __init__(
        self, store: Store, record: TrackingRunRecord, experiment: str, config: Config | None
    ) -> None:
        self.store = store
        self.id = record.id
        self.experiment = experiment
        self.name = record.name
        self.started_at = record.started_at
        self.status = "running"
        self._config = config
        self._params: dict[str, Any] = {}
        self._tags: dict[str, str] = dict(record.tags or {})
        self._lock = threading.Lock()  # params, tags, end
        self._metrics = MetricBuffer(store, record.id)
        self._artifact_root: str | None = None

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id[:12]} {self.experiment}/{self.name or '-'} {self.status}>"

    # -- params and tags ---------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The params logged so far."""
        return dict(self._params)

    @property
    def tags(self) -> dict[str, str]:
        """The tags set so far."""
        return dict(self._tags)

    def log_param(self, key: str, value: object) -> None:
        """Record a param; logging another value for a logged key is an ``InputError``."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params in one write (JSON values; other types as strings)."""
        self._check_running()
        new = {_name(key, "param name", _MAX_KEY): _json(value) for key, value in params.items()}
        new = _redacted(new, self._config)
        with self._lock:
            new = {k: v for k, v in new.items() if not self._known_param(k, v, self._params)}
            if not new:
                return
            with self.store.write() as session:
                record = self._record(session)
                stored = dict(record.params or {})
                for key, value in new.items():
                    self._known_param(key, value, stored)
                record.params = {**stored, **new}
                session.add(record)
            self._params = {**stored, **new}

    def _known_param(self, key: str, value: Any, known: dict[str, Any]) -> bool:
        if key not in known:
            return False
        if _same(known[key], value):
            return True
        raise InputError(
            f"param '{key}' of run {self.id[:12]} is already {_show(known[key])}; params cannot "
            f"change, so it cannot be set to {_show(value)} (use a new key or a new run)"
        )

    def set_tag(self, key: str, value: object) -> None:
        """Set a tag (tags, unlike params, may change)."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags in one write; values are stored as strings."""
        self._check_running()
        new = {_name(key, "tag name", _MAX_KEY): str(value) for key, value in tags.items()}
        new = _redacted(new, self._config)
        with self._lock, self.store.write() as session:
            record = self._record(session)
            record.tags = {**(record.tags or {}), **new}
            session.add(record)
            self._tags = dict(record.tags)

    def _record(self, session: Any) -> TrackingRunRecord:
        record: TrackingRunRecord | None = session.get(TrackingRunRecord, self.id)
        if record is None:
            raise NotFoundError(f"tracking run {self.id} no longer exists in the store")
        return record

    # -- metrics -----------------------------------------------------------------------------
    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp_ms: int | None = None
    ) -> None:
        """Buffer one metric value; it is written with its batch (see :meth:`flush`)."""
        if self.status != "running":
            self._check_running()
        row = (_metric_key(key), _value(key, value), _step(step), _timestamp(timestamp_ms))
        if self._metrics.add(row):
            self._metrics.flush()

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Buffer several metric values at one step and time."""
        self._check_running()
        at, ts = _step(step), _timestamp(timestamp_ms)
        rows = [(_metric_key(k), _value(k, v), at, ts) for k, v in metrics.items()]
        if rows and self._metrics.extend(rows):
            self._metrics.flush()

    def flush(self) -> int:
        """Write the buffered metric values now; returns how many were written."""
        return self._metrics.flush()

    @property
    def metric_batches(self) -> int:
        """How many transactions wrote this run's metrics so far."""
        return self._metrics.batches

    # -- artifacts ---------------------------------------------------------------------------
    def _root(self) -> str:
        if self._artifact_root is None:
            self._artifact_root = artifact_root(self._config)
        return self._artifact_root

    def log_artifact(
        self, path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> Artifact:
        """Store a file as ``<artifact_path>/<file name>`` of this run."""
        self._check_running()
        source = Path(path)
        if not source.is_file():
            raise NotFoundError(f"{source}: no such file to log as an artifact")
        name = clean_artifact_path(source.name, "file name")
        target = f"{clean_artifact_path(artifact_path)}/{name}" if artifact_path else name
        return log_files(self.store, self._root(), self.id, [(source, target)])[0]

    def log_artifacts(
        self, folder: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[Artifact]:
        """Store every file below ``folder``, keeping their relative paths."""
        self._check_running()
        base = Path(folder)
        if not base.is_dir():
            raise NotFoundError(f"{base}: no such folder to log as artifacts")
        prefix = f"{clean_artifact_path(artifact_path)}/" if artifact_path else ""
        files = [
            (source, prefix + clean_artifact_path(source.relative_to(base).as_posix(), "file name"))
            for source in sorted(base.rglob("*"))
            if source.is_file()
        ]
        return log_files(self.store, self._root(), self.id, files) if files else []

    # -- ending ------------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self.status != "running":
            raise InputError(f"run {self.id[:12]} has ended ({self.status}); start a new run")

    def end(self, status: str = "finished") -> None:
        """Write pending metrics and record the final status (no-op if already ended)."""
        if status not in _ENDED:
            raise InputError(f"unknown final status '{status}': expected {', '.join(_ENDED)}")
        with self._lock:
            if self.status != "running":
                return
            self._metrics.flush()
            with self.store.write() as session:
                record = self._record(session)
                record.status = status
                record.ended_at = utcnow()
                session.add(record)
            self.status = status
        flusher.unregister(self._metrics)
        _forget(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.end(_exit_status(exc))
        except LlmopsError as error:
            if exc is None:
                raise
            exc.add_note(f"llmops: run {self.id[:12]} could not be ended: {error}")


def _metric_key(key: Any) -> str:
    if type(key) is str and key and len(key) <= _MAX_KEY:  # the common case, checked fast
        return key
    return _name(key, "metric name", _MAX_KEY)


def _value(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"metric '{key}' must be a number, got {value!r}") from None
    if math.isnan(number):
        raise InputError(f"metric '{key}' is NaN, which the store cannot hold")
    return number


def _step(step: Any) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            return int(step.__index__())
        except (AttributeError, TypeError):
            raise InputError(f"metric step must be an integer, got {step!r}") from None
    return step


def _timestamp(timestamp_ms: int | None) -> int:
    return time.time_ns() // 1_000_000 if timestamp_ms is None else int(timestamp_ms)


def start_run(
    experiment: str = "default",
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    store: Store | str | None = None,
    config: Config | None = None,
) -> ActiveRun:
    """Start a run in ``experiment`` (created on first use), recording git commit and source.

    ``store`` is a :class:`Store` or a store URL; by default the project's store.
    """
    experiment = _name(experiment, "experiment name")
    run_name = "" if name is None else _name(name, "run name")
    tag_map = {_name(k, "tag name", _MAX_KEY): str(v) for k, v in (tags or {}).items()}
    tag_map = _redacted(tag_map, config)
    if not isinstance(store, Store):
        if store is None:
            if config is None:
                # lazy: keeps import llmops light
                from llmops.config import load_config

                config = load_config()
            store = config.resolved_store_url
        store = open_store(store)
    record = TrackingRunRecord(
        id=uuid.uuid4().hex,
        experiment_id=_experiment_id(store, experiment),
        name=run_name,
        git_commit=git_commit(),
        source=(sys.argv[0] if sys.argv else "")[:400],
        user=current_actor()[:200],
        params={},
        tags=tag_map,
    )
    with store.write() as session:
        session.add(record)
    run = ActiveRun(store, record, experiment, config)
    with _active_lock:
        _active[run.id] = run
    flusher.register(run._metrics)
    return run


# -- runs still running at interpreter exit ----------------------------------------------------
_active: dict[str, ActiveRun] = {}
_active_lock = threading.Lock()


def _forget(run: ActiveRun) -> None:
    with _active_lock:
        _active.pop(run.id, None)


def _end_runs_at_exit() -> None:
    with _active_lock:
        runs = list(_active.values())
    status = _exit_status(getattr(sys, "last_value", None))  # set by an uncaught exception
    for run in runs:
        try:
            run.end(status)
        except Exception as exc:  # nothing can be raised to anyone at exit: say it
            pending = run._metrics.pending
            sys.stderr.write(
                f"llmops: could not end run {run.id[:12]} at exit ({pending} metric values "
                f"unwritten): {exc}\n"
            )


def _after_fork_in_child() -> None:
    global _active_lock
    _active_lock = threading.Lock()
    _active.clear()  # a forked child (a data loader worker...) never ends its parent's runs


atexit.register(_end_runs_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)

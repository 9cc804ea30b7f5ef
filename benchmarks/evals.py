"""Eval harness speed: overhead per case and throughput against a simulated model.

Run: .venv/bin/python benchmarks/evals.py [--cases 1000] [--runs R] [--quick] [--json PATH]

Everything a real run does is on: the run, cases and scores are stored in a SQLite store,
every case is traced (spans written to the same store), summaries get bootstrap CIs.
- overhead: an instant target and a deterministic scorer; per case, against MLflow
  ``genai.evaluate`` doing the same on the same rows (instant predict_fn, exact-match scorer,
  SQLite tracking store), measured in the peers venv, one MLflow run per round interleaved
  with llmops' runs. Target <= 1 ms/case.
- throughput: a target that sleeps 50 ms (a model call) at concurrency 16; the floor is
  16 / 0.05 s = 320 cases/s. Target >= 250 cases/s.
- through HTTP: an OpenAI-compatible server in another process answers after 50 ms; the
  OpenAI SDK alone at concurrency 16 is the floor for any Python client, and the suite's
  prompt target (litellm, spans, stored results) is compared with it. Both make their event
  loop and HTTP client before the clock starts, and their runs alternate.
A row reads "not resolved" where the 95% CI of the paired ratio over rounds includes 1.
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _bench import (
    Measurement,
    Report,
    ci_note,
    figure,
    interleave,
    measure,
    paired_ci,
    parser,
    peer_or_reason,
    resolved,
    target,
)


def _rows(n: int) -> list[dict[str, str]]:
    return [{"question": f"question {i}", "expected": f"answer {i}"} for i in range(n)]


def _store(folder: Path) -> Any:
    from llmops.store import Store

    store = Store(f"sqlite:///{folder / 'bench.db'}")
    store.ensure_schema()
    return store


def _timed_evaluate(store: Any, rows: list[dict[str, str]], target: Any, concurrency: int) -> float:
    from llmops import evaluate
    from llmops.config import Config

    started = time.perf_counter()
    run = evaluate(
        rows,
        target,
        ["exact_match"],
        name="bench",
        concurrency=concurrency,
        config=Config(),
        store=store,
    )
    elapsed = time.perf_counter() - started
    assert len(run.results) == len(rows) and run.n_errors == 0
    return elapsed


class _SlowOpenAI(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint that answers after ``delay_s``."""

    daemon_threads = True

    def __init__(self, delay_s: float) -> None:
        delay = delay_s

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                time.sleep(delay)
                content = str(body["messages"][-1]["content"]).rsplit(" ", 1)[-1]
                payload = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "sim"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(("127.0.0.1", 0), Handler)


def _serve(delay_s: float, port: Any) -> None:
    server = _SlowOpenAI(delay_s)
    port.value = server.server_address[1]
    server.serve_forever()


class _ServerProcess:
    """The simulated model in its own process, so it does not share the benchmark's GIL."""

    def __init__(self, delay_s: float) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._port = context.Value("i", 0)
        self._process = context.Process(target=_serve, args=(delay_s, self._port), daemon=True)
        self._process.start()
        deadline = time.monotonic() + 30
        while not self._port.value and time.monotonic() < deadline:
            time.sleep(0.02)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port.value}/v1"

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)


class _SdkFloor:
    """The floor for any Python client: the OpenAI SDK alone, same server, same concurrency.

    The event loop and the client are made once, outside the timed region, as the suite's
    are (llmops runs on one long-lived loop, and litellm keeps its client per loop)."""

    def __init__(self, api_base: str, concurrency: int) -> None:
        from openai import AsyncOpenAI

        self._loop = asyncio.new_event_loop()
        self._semaphore = asyncio.Semaphore(concurrency)

        async def make() -> AsyncOpenAI:
            return AsyncOpenAI(base_url=api_base, api_key="x")

        self._client = self._loop.run_until_complete(make())
        self._loop.run_until_complete(self._go(32))  # warm-up: connections, SDK imports

    async def _go(self, count: int) -> None:
        async def one(i: int) -> None:
            async with self._semaphore:
                await self._client.chat.completions.create(
                    model="sim", messages=[{"role": "user", "content": f"Repeat: {i}"}]
                )

        await asyncio.gather(*(one(i) for i in range(count)))

    def rate(self, n: int) -> float:
        """Cases/s of ``n`` calls; only the calls are timed."""
        started = time.perf_counter()
        self._loop.run_until_complete(self._go(n))
        return n / (time.perf_counter() - started)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


def _prompt_suite(folder: Path, api_base: str, n: int) -> Path:
    (folder / "configs").mkdir()
    (folder / "prompts").mkdir()
    (folder / "evals").mkdir()
    (folder / "configs" / "llmops.yaml").write_text(
        f"default_model: sim\nmodels:\n  sim:\n    model: openai/sim\n    api_base: {api_base}\n"
    )
    (folder / "prompts" / "echo.yaml").write_text("template: 'Repeat: {{ expected }}'\n")
    with (folder / "evals" / "data.jsonl").open("w") as out:
        for row in _rows(n):
            out.write(json.dumps({**row, "expected": row["expected"].split()[-1]}) + "\n")
    suite = folder / "evals" / "sim.yaml"
    suite.write_text(
        "name: sim\ndataset: data.jsonl\nprompt: echo\nscorers: [exact_match]\n"
        "concurrency: 16\ncache: false\n"
    )
    return suite


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--cases", type=int, default=None, help="default 1000 (quick 200)")
    arguments.add_argument("--runs", type=int, default=None, help="default 3 (quick 2)")
    args = arguments.parse_args()
    n = args.cases or (200 if args.quick else 1000)
    runs = args.runs or (2 if args.quick else 3)
    report = Report.start(
        __file__, args, f"eval harness, {n} cases, SQLite store, tracing on, median of {runs} runs"
    )
    from llmops.evals import TargetOutput  # noqa: F401 - import cost outside the timings

    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        store = _store(Path(tmp))

        async def instant(row: dict[str, str]) -> str:
            return row["expected"]

        _timed_evaluate(store, _rows(50), instant, 16)  # warm up imports and the store
        # The same n rows for llmops and MLflow, one MLflow run per round, interleaved with
        # llmops' (order alternating) so load drift hits both.
        ours: list[float] = []
        theirs: list[float] = []
        peer_meta: dict[str, str] = {}

        def llmops_round() -> None:
            ours.append(_timed_evaluate(store, _rows(n), instant, 16) / n)

        def mlflow_round() -> None:
            if "unavailable" in peer_meta:
                return
            peer = peer_or_reason("mlflow", "mlflow_evaluate.py", tmp, str(n), "1")
            if isinstance(peer, str):
                peer_meta["unavailable"] = peer
            else:
                peer_meta["version"] = str(peer["version"])
                theirs.append(peer["per_row"]["median"])

        interleave([llmops_round, mlflow_round], runs)
        overhead = Measurement.from_samples(ours)

        async def model_50ms(row: dict[str, str]) -> str:
            await asyncio.sleep(0.05)
            return row["expected"]

        rate = measure(lambda: n / _timed_evaluate(store, _rows(n), model_50ms, 16), runs)

    floor = 16 / 0.05
    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        from llmops.config import load_config
        from llmops.evals import run_suite

        server = _ServerProcess(0.05)
        sdk = _SdkFloor(server.api_base, 16)
        try:
            folder = Path(tmp)
            suite = _prompt_suite(folder, server.api_base, n)
            config = load_config(folder)
            store = _store(folder)
            run_suite(suite, limit=32, config=config, store=store)  # warm up litellm
            sdk_samples: list[float] = []
            suite_samples: list[float] = []

            def suite_rate() -> float:
                started = time.perf_counter()
                run = run_suite(suite, config=config, store=store)
                elapsed = time.perf_counter() - started
                assert run.n_errors == 0, run.results[0].error
                assert run.summary["exact_match"].mean == 1.0
                return n / elapsed

            interleave(
                [
                    lambda: sdk_samples.append(sdk.rate(n)),
                    lambda: suite_samples.append(suite_rate()),
                ],
                runs,
            )
        finally:
            sdk.close()
            server.stop()
    sdk_rate = Measurement.from_samples(sdk_samples)
    http_rate = Measurement.from_samples(suite_samples)
    http_ci = paired_ci(suite_samples, sdk_samples)

    mlflow = Measurement.from_samples(theirs) if theirs else None
    overhead_ci = paired_ci(ours, theirs) if theirs else None
    name = f"MLflow {peer_meta['version']}" if "version" in peer_meta else "MLflow"
    goal = target(overhead.median, 1e-3, at_most=True, text="<= 1 ms")
    cases = functools.partial(figure, unit="cases/s", higher_is_better=True)
    report.add(
        figure(
            "evals: overhead per case, instant target",
            "ms",
            overhead,
            peer=f"{name} genai.evaluate ({n} rows)",
            peer_value=mlflow,
            peer_note=peer_meta.get("unavailable", ""),
            note=f"{goal}; {ci_note(overhead_ci)}" if mlflow is not None else goal,
            scale=1e3,
            resolved=mlflow is None or resolved(overhead_ci),
        ),
        cases(
            "evals: 50 ms target, concurrency 16",
            measured=rate,
            peer="floor: 16 / 0.05 s",
            peer_value=floor,
            note=target(rate.median, 250, at_most=False, text=">= 250 c/s"),
        ),
        cases(
            "evals: OpenAI SDK alone, 50 ms server, j16",
            measured=sdk_rate,
            peer="floor: 16 / 0.05 s",
            peer_value=floor,
            note="not llmops: the floor for any Python client",
        ),
        cases(
            "evals: prompt suite via litellm, 50 ms server, j16",
            measured=http_rate,
            peer="floor: OpenAI SDK alone",
            peer_value=sdk_rate,
            note=f"spans and results stored; {ci_note(http_ci)}",
            resolved=resolved(http_ci),
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()

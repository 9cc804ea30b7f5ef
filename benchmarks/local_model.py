"""The local model's runtime settings: tokens/s of llama.cpp (SmolLM2-135M, in-process) with
1 thread beside 2, and prompt evaluation with a small batch beside the default one.

Each setting gets its own server (``llmops.llm.local_server`` with a ``LocalRuntime``); the
calls go round-robin over the servers, so a change in the machine's load hits every setting
alike. A call is one chat completion of an eval-sized prompt (about 250 tokens, the prompt
cache off) generating 64 tokens at temperature 0; llama.cpp reports its own timings
(``prompt_per_second``, ``predicted_per_second``). The load average is printed beside the
figures: on a shared machine, compare the settings measured in the same run.

Run: .venv/bin/python benchmarks/local_model.py [--rounds N] [--quick] [--json PATH]
The default of ``models.NAME.local`` (llmops.config.LocalRuntime) follows these figures.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import dataclass, field

from _bench import Measurement, Report, figure, parser

_TOKENS = 64
_PROMPT = (
    "You are grading an answer. Question: what does the store keep for each trace, and how "
    "are the spans of one trace found again? Reference: every span is stored with its trace "
    "id, span id, parent span id, name, start and end times in nanoseconds, status, "
    "attributes and events; the spans of one trace share its trace id and are read back in "
    "start order, the root span being the one without a parent. Answer to grade: the store "
    "keeps spans, each with a trace id; a trace is found by its id, and its spans are sorted "
    "by their start time, the first one being the root. Does the answer agree with the "
    "reference? Say yes or no, then give one short reason, then list what the answer left "
    "out, each point on its own line, and finish with a score from 1 to 5 for completeness "
    "and another from 1 to 5 for correctness. Call {i}."
)


@dataclass
class _Setting:
    label: str
    threads: int
    batch_size: int
    generated: list[float] = field(default_factory=list)  # tokens/s per call
    prompt: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    url: str = ""
    alias: str = ""


def _call(setting: _Setting, i: int) -> None:
    body = {
        "model": setting.alias,
        "messages": [{"role": "user", "content": _PROMPT.format(i=i)}],
        "max_tokens": _TOKENS,
        "temperature": 0.0,
        "seed": 7,
        "cache_prompt": False,  # every call evaluates its whole prompt
    }
    request = urllib.request.Request(
        f"{setting.url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with direct.open(request, timeout=300) as response:
        answer = json.load(response)
    setting.seconds.append(time.perf_counter() - started)
    timings = answer["timings"]
    setting.generated.append(float(timings["predicted_per_second"]))
    setting.prompt.append(float(timings["prompt_per_second"]))


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--rounds", type=int, default=None, help="calls per setting (7)")
    args = arguments.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    report = Report.start(__file__, args, f"local model runtime, median of {rounds} calls")
    try:
        from llmops.config import LocalRuntime
        from llmops.llm import local_server
    except ImportError as exc:
        report.skip(f"llmops is not importable: {exc}")
        return
    settings = [
        _Setting("1 thread, batch 512", threads=1, batch_size=512),
        _Setting("2 threads, batch 512", threads=2, batch_size=512),
        _Setting("1 thread, batch 32", threads=1, batch_size=32),
    ]
    try:
        for setting in settings:
            server = local_server(
                "smollm2", LocalRuntime(threads=setting.threads, batch_size=setting.batch_size)
            )
            setting.url, setting.alias = server.url, server.alias
    except Exception as exc:  # no xllamacpp or no model file here: say so, measure nothing
        report.skip(f"local model unavailable: {exc}")
        return
    load_before = os.getloadavg()[0]
    for setting in settings:  # warm-up: first call pays for page faults and allocations
        _call(setting, -1)
        setting.generated.clear(), setting.prompt.clear(), setting.seconds.clear()
    for i in range(rounds):
        for setting in settings[i % len(settings) :] + settings[: i % len(settings)]:
            _call(setting, i)
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    one, two, small = settings

    def median(values: list[float]) -> Measurement:
        return Measurement.from_samples(values)

    report.add(
        figure(
            "local model: generation, 1 thread",
            "tok/s",
            median(one.generated),
            higher_is_better=True,
            peer="2 threads",
            peer_value=median(two.generated),
            note=load,
        ),
        figure(
            "local model: prompt evaluation, 1 thread",
            "tok/s",
            median(one.prompt),
            higher_is_better=True,
            peer="2 threads",
            peer_value=median(two.prompt),
            note=load,
        ),
        figure(
            f"local model: one call ({_TOKENS} tokens), 1 thread",
            "s",
            median(one.seconds),
            peer="2 threads",
            peer_value=median(two.seconds),
            note=load,
        ),
        figure(
            "local model: prompt evaluation, batch 512 (1 thread)",
            "tok/s",
            median(one.prompt),
            higher_is_better=True,
            peer="batch 32",
            peer_value=median(small.prompt),
            note=load,
        ),
    )
    report.finish()


if __name__ == "__main__":
    main()

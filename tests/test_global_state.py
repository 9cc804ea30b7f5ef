"""The library leaves the process as it found it: importing llmops and its sub-packages and
calling the main entry points changes no environment variable, warning filter or ``sys.path``
entry (nor datasets' log level and progress bars), and reaches nothing beyond loopback, while
litellm still reads its local cost map and datasets stays offline.

One subprocess (a fresh interpreter: what is imported first matters), real files, a real
store, models served by a real OpenAI-compatible HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from _fake_openai import FakeOpenAI
from _offline import MARKER, PRELUDE

_SCRIPT = """
import json, os, sys, warnings

env_before = dict(os.environ)
filters_before = list(warnings.filters)
path_before = list(sys.path)

# Who adds warning filters: third-party libraries do at import (numpy, urllib3...), which is
# theirs to decide; llmops must not.
callers = []
for _name in ("filterwarnings", "simplefilter"):
    def _recorded(*args, _original=getattr(warnings, _name), **kwargs):
        callers.append(sys._getframe(1).f_globals.get("__name__", "?"))
        return _original(*args, **kwargs)
    setattr(warnings, _name, _recorded)

import llmops

for name in sorted(llmops._SUBPACKAGES):  # every documented sub-package, loaded
    getattr(llmops, name)
import llmops.rag, llmops.serving, llmops.server, llmops.gates, llmops.registry

# tracing
with llmops.span("request", kind="chain") as span:
    span.set("question", "q")
llmops.flush()

# a suite: a CSV dataset (through Hugging Face datasets), a python target and scorer from
# the suite's folder (imported with that folder on the path)
run = llmops.run_suite("evals/suite.yaml")
assert run.summary["shout"].mean == 1.0, run.summary

# evaluate on rows, with the reference column found by name
run = llmops.evaluate([{"question": "q", "answer": "Q"}], lambda row: "Q", ["exact_match"])
assert run.summary["exact_match"].mean == 1.0

# a model call (litellm imported here) and a route with a shadow call
from llmops.llm import Route, Router

reply = llmops.complete([{"role": "user", "content": "hi"}], "fake")
assert reply.text == "hi", reply
routed = Router([Route(name="r", primary="fake", shadow="fake")])
routed.complete("r", [{"role": "user", "content": "hi"}])
routed.drain()

# RAG documents from a dataset file
from llmops.rag import SourceSpec, load_sources
from pathlib import Path

documents, _ = load_sources([SourceSpec(dataset="data.csv", text_field="text")], Path("evals"))
assert len(documents) == 2, documents

# tracking
with llmops.start_run(experiment="e", name="n") as tracked:
    tracked.log_metric("loss", 0.5, step=1)

import datasets
import litellm

report = {
    "env_added": sorted(set(os.environ) - set(env_before)),
    "env_removed": sorted(set(env_before) - set(os.environ)),
    "env_changed": sorted(k for k in env_before if os.environ.get(k) != env_before[k]),
    "filters_added": [str(f) for f in warnings.filters if f not in filters_before],
    "filters_removed": [str(f) for f in filters_before if f not in warnings.filters],
    "filter_callers": callers,
    "path_same": sys.path == path_before,
    "path": [p for p in sys.path if p not in path_before],
    "datasets_verbosity": datasets.logging.get_verbosity(),
    "datasets_bars_disabled": datasets.utils.are_progress_bars_disabled(),
    "hub_offline": datasets.config.HF_HUB_OFFLINE,
    "cost_map_source": litellm.litellm_core_utils.get_model_cost_map._cost_map_source_info.source,
}
print(json.dumps(report))
"""


def _project(root: Path, api_base: str) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "evals").mkdir()
    config = {
        "store_url": f"sqlite:///{root / 'store.db'}",
        "default_model": "fake",
        "models": {"fake": {"model": "openai/fake", "api_base": api_base}},
    }
    (root / "configs" / "llmops.yaml").write_text(yaml.safe_dump(config))
    (root / "evals" / "data.csv").write_text("question,answer,text\nhello,HELLO,a\nbye,BYE,b\n")
    (root / "evals" / "suite_code.py").write_text(
        textwrap.dedent(
            """
            def answer(row):
                return row["question"].upper()

            def shout(output, expected):
                return float(output == expected)
            """
        )
    )
    (root / "evals" / "suite.yaml").write_text(
        textwrap.dedent(
            """
            name: shouting
            dataset: data.csv
            python: suite_code:answer
            expected: answer
            scorers: [{python: suite_code:shout, name: shout}]
            """
        )
    )
    return root


def test_library_calls_leave_environment_warnings_and_path_alone(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        project = _project(tmp_path / "project", fake.api_base)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LLMOPS_HOME": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-c", PRELUDE + _SCRIPT],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert MARKER not in done.stderr, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["env_added"] == [] and report["env_removed"] == [], report
    assert report["env_changed"] == [], report
    assert not [c for c in report["filter_callers"] if c.split(".")[0] == "llmops"], report
    third_party = [c for c in report["filter_callers"] if c.split(".")[0] != "llmops"]
    assert len(report["filters_added"]) <= len(third_party), report
    assert report["filters_removed"] == [], report
    assert report["path_same"], report
    # datasets' own settings are back to its defaults after llmops read through it
    assert report["datasets_verbosity"] == 30 and report["datasets_bars_disabled"] is False
    # ...while the offline switches held where they are read: at import
    assert report["hub_offline"] is True
    assert report["cost_map_source"] == "local"
    assert len(fake.requests) == 3  # one call, then the route's primary and its shadow


def test_defaults_are_set_for_the_block_only_and_a_users_value_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops._env import defaults_during

    monkeypatch.setenv("LLMOPS_TEST_USERS_OWN", "0")
    monkeypatch.delenv("LLMOPS_TEST_DEFAULTED", raising=False)
    before = dict(os.environ)
    with defaults_during(LLMOPS_TEST_USERS_OWN="1", LLMOPS_TEST_DEFAULTED="1"):
        assert os.environ["LLMOPS_TEST_USERS_OWN"] == "0"  # the user's choice
        assert os.environ["LLMOPS_TEST_DEFAULTED"] == "1"
    assert dict(os.environ) == before
    with pytest.raises(RuntimeError), defaults_during(LLMOPS_TEST_DEFAULTED="1"):
        raise RuntimeError("an import that fails")
    assert dict(os.environ) == before

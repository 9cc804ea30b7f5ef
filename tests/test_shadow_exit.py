"""A route's shadow call survives the process exiting right after the primary call: the exit
waits for it (bounded), its span is stored, and what is still running at the bound is counted.

Real subprocesses, real OpenAI-compatible HTTP servers on 127.0.0.1, a real SQLite store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _fake_openai import FakeOpenAI
from sqlmodel import select

from llmops.store import open_store
from llmops.store.models import SpanRecord

ASK = [{"role": "user", "content": "hello"}]


class _Models:
    """Two model servers: the primary answers at once; the shadow answers after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.shadow_answered = threading.Event()
        self.primary = FakeOpenAI(lambda request, count: (200, "primary answer"))
        self.shadow = FakeOpenAI(self._slow)

    def _slow(self, request: dict[str, Any], count: int) -> tuple[int, str]:
        time.sleep(self.delay_s)  # the primary has answered and the caller exited meanwhile
        self.shadow_answered.set()
        return 200, "shadow answer"


@pytest.fixture
def models(request: pytest.FixtureRequest) -> Iterator[_Models]:
    found = _Models(delay_s=getattr(request, "param", 0.5))
    with found.primary, found.shadow:
        yield found


def _project(root: Path, models: _Models) -> Path:
    (root / "configs").mkdir(parents=True)
    config = {
        "store_url": f"sqlite:///{root / 'store.db'}",
        "default_model": "main",
        "models": {
            "main": {"model": "openai/main-model", "api_base": models.primary.api_base},
            "candidate": {"model": "openai/candidate-model", "api_base": models.shadow.api_base},
        },
    }
    (root / "configs" / "llmops.yaml").write_text(yaml.safe_dump(config))
    routes = {"routes": [{"name": "support", "primary": "main", "shadow": "candidate"}]}
    (root / "configs" / "routes.yaml").write_text(yaml.safe_dump(routes))
    return root


_SYNC = """
    completion = Router.from_file().complete("support", ASK)
"""
_ASYNC = """
    async def main():
        return await Router.from_file().acomplete("support", ASK)

    completion = asyncio.run(main())  # asyncio.run cancels the tasks left on its loop
"""


def _run(project: Path, call: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``call`` in a new Python process that exits as soon as it has printed the answer."""
    script = "\n".join(
        [
            "import asyncio, json",
            "import llmops",
            before,
            "from llmops.llm import Router",
            f"ASK = {ASK!r}",
            textwrap.dedent(call),
            "print(json.dumps({key: getattr(completion, key) for key in",
            '      ("text", "route", "route_target", "version", "endpoint")}))',
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _llm_spans(project: Path) -> list[SpanRecord]:
    store = open_store(f"sqlite:///{project / 'store.db'}")
    with store.session() as session:
        return [s for s in session.exec(select(SpanRecord)).all() if s.kind == "llm"]


@pytest.mark.parametrize("call", [_SYNC, _ASYNC], ids=["complete", "acomplete"])
def test_the_shadow_call_ends_before_the_process_does(
    tmp_path: Path, models: _Models, call: str
) -> None:
    project = _project(tmp_path, models)
    done = _run(project, call)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    # the completion names the route, the target it chose, the version and its endpoint
    assert answer == {
        "text": "primary answer",
        "route": "support",
        "route_target": "main",
        "version": "main",
        "endpoint": models.primary.api_base,
    }
    assert models.shadow_answered.is_set()
    assert [r["model"] for r in models.shadow.requests] == ["candidate-model"]
    spans = {bool(s.attributes.get("llmops.route.shadow")): s for s in _llm_spans(project)}
    assert set(spans) == {False, True}
    shadow = spans[True]
    assert shadow.status_code != "ERROR"
    assert shadow.attributes["llmops.route.target"] == "candidate"
    assert shadow.attributes["gen_ai.response.model"] == "candidate-model"
    assert shadow.trace_id == spans[False].trace_id  # one trace: the route's span is the parent
    assert "abandoned" not in done.stderr


@pytest.mark.parametrize("models", [3.0], indirect=True)
def test_a_shadow_call_past_the_exit_bound_is_counted_as_abandoned(
    tmp_path: Path, models: _Models
) -> None:
    project = _project(tmp_path, models)
    done = _run(project, _SYNC, before="import llmops._aio\nllmops._aio.DETACHED_EXIT_WAIT_S = 0.2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["text"] == "primary answer"
    assert "llmops: 1 shadow call(s) still running 0.2 s after exit began were abandoned" in (
        done.stderr
    )
    spans = _llm_spans(project)
    assert [bool(s.attributes.get("llmops.route.shadow")) for s in spans] == [False]


def test_drain_waits_for_this_routers_shadow_calls(tmp_path: Path, models: _Models) -> None:
    project = _project(tmp_path, models)
    done = _run(
        project,
        """
        router = Router.from_file()
        completion = router.complete("support", ASK)
        router.drain()
        from llmops.llm import shadow_stats
        print(json.dumps(vars(shadow_stats())))
        """,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-2]) == {"started": 1, "finished": 1, "abandoned": 0}

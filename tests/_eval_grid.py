"""Real matrix runs for the grid tests: two prompts x two models answered by the fake server,
with hostile markup in case inputs, outputs (the fake echoes the context) and a model name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from _fake_openai import FakeOpenAI, echo_context

from llmops.config import load_config
from llmops.evals import EvalRun, run_matrix
from llmops.store import Store

REPO = Path(__file__).resolve().parent.parent
#: markup that would set window.__xss if the page ever ran it
OWN_XSS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg onload="window.__xss=1">',
    "javascript:window.__xss=1//",
]
#: the second model's name: hostile, and still a valid configured name
XSS_MODEL = f"m{OWN_XSS[0]}"
N_CASES = 5


def responder(request: dict[str, Any], count: int) -> tuple[int, str]:
    """The context echoed, but the second model misses case 1 and fails case 2."""
    status, text = echo_context(request, count)
    if request.get("model") == "fake2":
        if " case-1" in text:
            return 200, "no idea"
        if " case-2" in text:
            return 400, "the second model refuses case 2"
    return status, text


def make_project(root: Path, fake: FakeOpenAI) -> Path:
    """A project at ``root`` whose suite ``evals/grid.yaml`` is a 2 x 2 matrix."""
    for folder in ("configs", "prompts", "evals"):
        shutil.copytree(REPO / folder, root / folder)
    config_path = root / "configs" / "llmops.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"]["fake"] = {"model": "openai/fake", "api_base": fake.api_base}
    config["models"][XSS_MODEL] = {"model": "openai/fake2", "api_base": fake.api_base}
    config["default_model"] = "fake"
    config_path.write_text(yaml.safe_dump(config))
    (root / "prompts" / "qa_terse.yaml").write_text(
        "template: 'Context: {{ context }} Q: {{ question }}'\n"
    )
    rows = [
        {
            "context": f"{OWN_XSS[i % len(OWN_XSS)]} case-{i}",
            "question": f"{OWN_XSS[(i + 1) % len(OWN_XSS)]} which case?",
            "answer": f"case-{i}",
        }
        for i in range(N_CASES)
    ]
    (root / "evals" / "data" / "grid.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    suite = {
        "name": "grid",
        "dataset": "data/grid.jsonl",
        "expected": "answer",
        "prompts": ["qa", "qa_terse"],
        "models": ["fake", XSS_MODEL],
        "scorers": ["contains", "exact_match"],
        "cache": False,
    }
    (root / "evals" / "grid.yaml").write_text(yaml.safe_dump(suite))
    return root / "evals" / "grid.yaml"


def make_runs(root: Path, fake: FakeOpenAI, store: Store) -> list[EvalRun]:
    """The four runs of the matrix, stored in ``store``."""
    suite = make_project(root, fake)
    return run_matrix(suite, store=store, config=load_config(root))

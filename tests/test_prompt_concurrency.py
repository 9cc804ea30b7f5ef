"""Real processes pushing prompt versions at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from llmops.prompts import list_versions
from llmops.store import Store, open_store

_PUSH = """
import sys, time
from pathlib import Path
from llmops.prompts import PromptSpec, register_prompt
from llmops.store import open_store
url, body, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = open_store(url)
while not go.exists():
    time.sleep(0.001)
version = register_prompt(store, PromptSpec(name="race", template=body))
print(version.version)
"""


def test_concurrent_pushes_make_one_version_per_content(store_url: str, tmp_path: Path) -> None:
    open_store(store_url)  # create the schema once, as an existing project would have
    go = tmp_path / "go"
    bodies = ["same {{ x }}"] * 4 + [f"different {i} {{{{ x }}}}" for i in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSH, store_url, body, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for body in bodies
    ]
    time.sleep(1.5)  # let every process import and connect
    go.write_text("go")
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * len(bodies), outputs
    numbers = [int(out.strip()) for out, _ in outputs]
    assert len(set(numbers[:4])) == 1, numbers  # same content, same version
    store = Store(store_url)
    versions = list_versions(store, "race")
    store.close()
    assert sorted(v.version for v in versions) == [1, 2, 3, 4, 5]
    assert sorted(v.template for v in versions) == sorted(set(bodies))

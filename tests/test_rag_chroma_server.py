"""RAG indexes in a real chromadb server (``chroma run`` on 127.0.0.1), not the embedded one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmops.config import load_config
from llmops.rag._index import build_index, chroma_client
from llmops.rag._retrieve import Retriever
from llmops.rag._spec import load_pipeline
from llmops.store import open_store

CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))


@pytest.fixture
def chroma_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not Path(CHROMA).exists():
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_ANONYMIZED_TELEMETRY": "False"}
    server = subprocess.Popen(
        [
            CHROMA,
            "run",
            "--path",
            str(tmp_path / "chroma-server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chroma server did not start")
            time.sleep(0.1)
        monkeypatch.setenv("LLMOPS_CHROMA_URL", url)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_index_lives_in_the_chroma_server(project: Path, chroma_server: str) -> None:
    docs = project / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("Refunds are paid back to the card within five days.")
    (docs / "shipping.md").write_text("Parcels ship from Lyon and arrive the next day.")
    (project / "configs" / "rag").mkdir()
    (project / "configs" / "rag" / "srv.yaml").write_text("sources:\n  - path: ../../docs\n")
    config = load_config()
    info, _ = build_index(open_store(), load_pipeline("srv", project / "configs"), config.data_dir)
    client = chroma_client(config.data_dir)
    assert info.collection in [c.name for c in client.list_collections()]
    assert not (config.data_dir / "chroma").exists()  # nothing went to the embedded store
    top = Retriever(info, config.data_dir).retrieve("when do refunds arrive", k=1)
    assert top[0].metadata["source"] == "refunds.md"

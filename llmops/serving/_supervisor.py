"""The detached supervisor of ``llmops serve MODEL --detach`` (run as a module).

python -m llmops.serving._supervisor --store-url URL --endpoint-id ID --log-dir DIR < plan.json

It starts the server of the launch plan read from stdin, records it as endpoint ``ID``, and
watches it: a crash is restarted up to ``plan.restart`` times. It exits when the endpoint is
stopped (by ``llmops serve stop ID``, from any process), fails or crashes for good, and on
SIGTERM or SIGINT it stops the server first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import orjson

from llmops._exceptions import ModelError
from llmops.serving._process import LaunchPlan, ManagedServer
from llmops.store import open_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmops-serve-supervisor")
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--endpoint-id", required=True)
    parser.add_argument("--log-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    plan = LaunchPlan(**orjson.loads(sys.stdin.buffer.read()))
    server = ManagedServer(
        open_store(args.store_url), plan, log_dir=args.log_dir, endpoint_id=args.endpoint_id
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()  # a failure is recorded on the endpoint
    except ModelError as exc:
        print(f"[llmops] supervisor exits: {exc}", flush=True)
        return 1
    pid = server.process.pid if server.process else None
    print(f"[llmops] supervisor {os.getpid()}: endpoint {server.id}, server pid {pid}", flush=True)
    status = server.supervise(stop)
    if stop.is_set() and status in ("ready", "starting"):
        server.stop()
        status = "stopped"
    print(f"[llmops] supervisor exits: endpoint {server.id} {status}", flush=True)
    return 0 if status == "stopped" else 1


if __name__ == "__main__":
    sys.exit(main())

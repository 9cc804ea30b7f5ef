"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted answers, for unit tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any], int], tuple[int, Any]]
"""``(request, n) -> (status, content)``; content is text, or a whole assistant message dict."""


def echo_context(request: dict[str, Any], _count: int) -> tuple[int, str]:
    """Answers with the first line of the last user message, minus a ``Context:`` label."""
    lines = str(request["messages"][-1]["content"]).splitlines() or [""]
    return 200, lines[0].removeprefix("Context: ")


class FakeOpenAI:
    """Serves /v1/chat/completions; ``responder(request, n)`` -> (status, content)."""

    def __init__(self, responder: Responder = echo_context) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                with fake._lock:
                    fake.requests.append(body)
                    count = len(fake.requests)
                status, content = fake.responder(body, count)
                if status != 200:
                    payload = {"error": {"message": content, "type": "server_error"}}
                else:
                    payload = {
                        "id": f"chatcmpl-{count}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": content
                                if isinstance(content, dict)
                                else {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

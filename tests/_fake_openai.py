"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted answers, for unit tests.

It serves ``/v1/chat/completions`` (streamed as server-sent events when asked, with a usage
chunk under ``stream_options.include_usage``; an answer holding ``tool_calls`` finishes with
``tool_calls``) and ``/v1/embeddings``; any other status from the responder is an error body.
"""

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


#: The usage of every chat answer, streamed or not.
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
#: Each embedding's size; every input counts as this many prompt tokens.
EMBEDDING_SIZE = 4


def _finish_reason(content: Any) -> str:
    return "tool_calls" if isinstance(content, dict) and content.get("tool_calls") else "stop"


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    data = [
        {"object": "embedding", "index": i, "embedding": [0.5 + i] * EMBEDDING_SIZE}
        for i in range(len(inputs))
    ]
    tokens = EMBEDDING_SIZE * len(inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "fake"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _chunks(body: dict[str, Any], count: int, content: Any) -> list[dict[str, Any]]:
    """The chat answer as streamed chunks: the text word by word, then the finish reason, then
    (with ``stream_options.include_usage``) a usage chunk without choices."""
    message = content if isinstance(content, dict) else {"content": content}
    text = str(message.get("content") or "")
    words = [w + " " for w in text.split(" ")[:-1]] + [text.split(" ")[-1]] if text else []
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word} for word in words]
    if message.get("tool_calls"):
        deltas.append({"tool_calls": [{"index": 0, **t} for t in message["tool_calls"]]})
    base = {
        "id": f"chatcmpl-{count}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model", "fake"),
    }
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        for delta in deltas
    ]
    chunks.append(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": _finish_reason(content)}]}
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": USAGE})
    return chunks


class FakeOpenAI:
    """Serves /v1/chat/completions and /v1/embeddings; ``responder(request, n)`` -> (status,
    content) answers the chats."""

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
                if self.path.endswith("/embeddings"):
                    self._send(200, _embeddings(body))
                    return
                status, content = fake.responder(body, count)
                if status != 200:
                    payload = {"error": {"message": content, "type": "server_error"}}
                elif body.get("stream"):
                    self._stream(body, count, content)
                    return
                else:
                    payload = {
                        "id": f"chatcmpl-{count}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": _finish_reason(content),
                                "message": content
                                if isinstance(content, dict)
                                else {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": USAGE,
                    }
                self._send(status, payload)

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], count: int, content: Any) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # the end of the body ends the stream
                self.end_headers()
                for chunk in _chunks(body, count, content):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

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

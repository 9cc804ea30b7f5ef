"""The OpenTelemetry SDK with the OTLP/gRPC exporter (gzip) and hand-made GenAI spans: an
agent whose chat (a real call to the fake server) and tool nest under it, and a chat that
fails. The endpoint is the llmops server's gRPC port (``OTEL_EXPORTER_OTLP_ENDPOINT``)."""

from __future__ import annotations

import openai
from _common import MISSING_MODEL, MODEL, QUESTION, Session
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression, OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

session = Session("conformance-otel-sdk-grpc", OTLPSpanExporter(compression=Compression.Gzip))
tracer = trace.get_tracer("conformance.grpc", "1.0.0")
client = openai.OpenAI()


def chat(model: str) -> str:
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        messages = [{"role": "user", "content": QUESTION}]
        response = client.chat.completions.create(model=model, messages=messages)
        span.set_attribute("gen_ai.response.model", response.model)
        span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
        span.set_status(Status(StatusCode.OK))
        return response.choices[0].message.content or ""


def agent() -> str:
    with tracer.start_as_current_span("invoke_agent weather") as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("gen_ai.agent.name", "weather")
        answer = chat(MODEL)
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "get_weather")
        return answer


answer = session.record("agent", agent)
session.record("error", lambda: chat(MISSING_MODEL), fails=True)
session.finish(answer=answer)

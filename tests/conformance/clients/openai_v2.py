"""OpenTelemetry's openai-v2 instrumentor, set up as its README says, over the five calls.

The test runs it twice: with the default conventions, and with
``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (content on the span); content
capture is on in both (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``). With the
default conventions the messages are log records: a logger provider exports them over
OTLP/HTTP (``/v1/logs`` of the same endpoint), as the README says to configure logging.
"""

from __future__ import annotations

import openai
from _common import Session, openai_calls
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

session = Session("conformance-openai-v2")
logs = LoggerProvider(resource=session.provider.resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
set_logger_provider(logs)
OpenAIInstrumentor().instrument()
openai_calls(session, openai.OpenAI())
if not logs.force_flush(120_000):
    raise SystemExit("log records were not flushed")
logs.shutdown()
session.finish()

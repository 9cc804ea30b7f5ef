"""OpenTelemetry's openai-v2 instrumentor, set up as its README says, over the five calls.

The test runs it twice: with the default conventions, and with
``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (content on the span); content
capture is on in both (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).
"""

from __future__ import annotations

import openai
from _common import Session, openai_calls
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

session = Session("conformance-openai-v2")
OpenAIInstrumentor().instrument()
openai_calls(session, openai.OpenAI())
session.finish()

"""Traceloop's OpenLLMetry OpenAI instrumentor (opentelemetry-instrumentation-openai), set up
as its README says (the global provider), over the five calls."""

from __future__ import annotations

import openai
from _common import Session, openai_calls
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

session = Session("conformance-openllmetry")
OpenAIInstrumentor().instrument()
openai_calls(session, openai.OpenAI())
session.finish()

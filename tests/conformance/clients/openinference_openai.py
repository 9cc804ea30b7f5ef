"""OpenInference's OpenAI instrumentor, set up as its README says, over the five calls."""

from __future__ import annotations

import openai
from _common import Session, openai_calls
from openinference.instrumentation.openai import OpenAIInstrumentor

session = Session("conformance-openinference-openai")
OpenAIInstrumentor().instrument(tracer_provider=session.provider)
openai_calls(session, openai.OpenAI())
session.finish()

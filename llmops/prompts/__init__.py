"""Prompt registry: templates kept as files, registered as immutable content-hashed versions."""

from llmops.prompts._files import ChatMessage, PromptSpec, find_prompt_file, load_prompt_file
from llmops.prompts._registry import (
    PromptVersion,
    content_hash,
    get_prompt_version,
    register_prompt,
)
from llmops.prompts._template import declared_variables, render_template

__all__ = [
    "ChatMessage",
    "PromptSpec",
    "PromptVersion",
    "content_hash",
    "declared_variables",
    "find_prompt_file",
    "get_prompt_version",
    "load_prompt_file",
    "register_prompt",
    "render_template",
]

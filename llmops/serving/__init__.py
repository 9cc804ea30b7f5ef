"""Serving registered model versions as OpenAI-compatible endpoints (vLLM or llama.cpp).

from llmops.serving import ManagedServer, plan_for
server = ManagedServer(store, plan_for(store, "support-bot@production"))
endpoint = server.start()          # waits for /health and /v1/models; recorded in the store
server.supervise()                 # restarts after a crash, up to `restart` times
start_supervised(store, plan)      # the same in a detached supervisor (`llmops serve --detach`)
"""

from __future__ import annotations

from llmops._serving_spec import LoadedServing, ServeSettings, ServingFile, load_serving
from llmops.serving._command import (
    VLLM_MISSING,
    choose_backend,
    command_for,
    llamacpp_command,
    vllm_available,
    vllm_command,
)
from llmops.serving._endpoints import (
    ServingEndpoint,
    get_endpoint,
    list_endpoints,
    load_adapter,
    log_tail,
    unload_adapter,
)
from llmops.serving._process import (
    LaunchPlan,
    ManagedServer,
    free_port,
    plan_for,
    start_supervised,
    stop_endpoint,
)

__all__ = [
    "VLLM_MISSING",
    "LaunchPlan",
    "LoadedServing",
    "ManagedServer",
    "ServeSettings",
    "ServingEndpoint",
    "ServingFile",
    "choose_backend",
    "command_for",
    "free_port",
    "get_endpoint",
    "list_endpoints",
    "llamacpp_command",
    "load_adapter",
    "load_serving",
    "log_tail",
    "plan_for",
    "start_supervised",
    "stop_endpoint",
    "unload_adapter",
    "vllm_available",
    "vllm_command",
]

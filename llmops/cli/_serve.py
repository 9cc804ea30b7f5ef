"""``llmops serve``: registered model versions as running OpenAI-compatible endpoints."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer
from typer.core import TyperGroup

from llmops.cli._output import console, fmt_time, print_json
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["serve_app"]


class _ServeGroup(TyperGroup):
    """``llmops serve MODEL`` is short for ``llmops serve start MODEL``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["start", *args]
        return super().parse_args(ctx, args)


serve_app = typer.Typer(
    cls=_ServeGroup,
    help="Serve registered models (vLLM or llama.cpp): serve MODEL, list, stop, logs.",
    no_args_is_help=True,
)


class Backend(StrEnum):
    vllm = "vllm"
    llamacpp = "llamacpp"


_JSON = typer.Option(False, "--json", help="Print JSON.")


def _store() -> Any:
    # lazy: keeps import llmops light
    from llmops.store import open_store

    return open_store()


@serve_app.command("start")
def start(
    model: str = typer.Argument(..., help="MODEL, MODEL@VERSION or MODEL@ALIAS."),
    backend: Backend | None = typer.Option(None, "--backend", help="Override the config."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="0: a free port."),
    detach: bool = typer.Option(
        False, "--detach", help="Leave it running, restarted after a crash, and return."
    ),
    as_json: bool = _JSON,
) -> None:
    """Serve a model version; in the foreground until Ctrl-C, or under a supervisor (--detach)."""
    # lazy: keeps import llmops light
    from llmops.serving import ManagedServer, plan_for, start_supervised

    store = _store()
    plan = plan_for(store, model, backend=backend and backend.value, port=port)
    server = ManagedServer(store, plan)
    endpoint = start_supervised(store, plan) if detach else server.start()
    if as_json:
        print_json(endpoint.to_dict())
    else:
        console.print(
            f"serving {endpoint.model} as '{endpoint.served_model_name}' at {endpoint.api_base} "
            f"({endpoint.backend}, id {endpoint.id}, pid {endpoint.pid})"
        )
    if detach:
        return
    console.print("Ctrl-C stops it")
    try:
        status = server.supervise()
    except KeyboardInterrupt:
        server.stop()
        console.print(f"stopped {endpoint.id}")
        return
    if status not in ("stopped",):
        # lazy: keeps import llmops light
        from llmops._exceptions import ModelError

        raise ModelError(f"endpoint {endpoint.id} {status}; see `llmops serve logs {endpoint.id}`")
    console.print(f"stopped {endpoint.id}")


@serve_app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", "-a", help="Also stopped, failed and crashed."),
    wide: bool = WIDE,
    as_json: bool = _JSON,
) -> None:
    """Serving endpoints, newest first."""
    # lazy: keeps import llmops light
    from llmops.serving import list_endpoints

    endpoints = list_endpoints(_store(), all_=all_)
    if as_json:
        print_json([endpoint.to_dict() for endpoint in endpoints])
        return
    columns = (
        Col("id", 0, id="full"),  # `serve stop|logs` take the whole id
        Col("model", 0),
        Col("backend", 4),
        Col("served as", 3),
        Col("api base", 1),
        Col("status", 1),
        Col("restarts", 5, justify="right"),
        Col("started", 2),
    )
    rows = [
        (
            e.id,
            e.model,
            e.backend,
            e.served_model_name,
            e.api_base,
            e.status,
            str(e.restarts),
            fmt_time(e.started_at),
        )
        for e in endpoints
    ]
    print_table(columns, rows, wide=wide, empty="no serving endpoints (--all shows stopped ones)")


@serve_app.command("stop")
def stop(endpoint_id: str = typer.Argument(..., help="The endpoint id.")) -> None:
    """Stop an endpoint (SIGTERM, then SIGKILL after 10 s); one that is not running is left
    as it is (exit 0)."""
    # lazy: keeps import llmops light
    from llmops.serving import get_endpoint, stop_endpoint

    store = _store()
    endpoint = get_endpoint(store, endpoint_id)  # its status checked against its process
    if endpoint.status not in ("starting", "ready"):
        console.print(f"endpoint {endpoint.id} is not running ({endpoint.status})")
        return
    endpoint = stop_endpoint(store, endpoint_id)
    console.print(f"stopped {endpoint.id} ({endpoint.model})")


@serve_app.command("logs")
def logs(
    endpoint_id: str = typer.Argument(..., help="The endpoint id."),
    lines: int = typer.Option(50, "-n", "--lines", min=1, help="How many lines."),
) -> None:
    """The last lines of an endpoint's server log."""
    # lazy: keeps import llmops light
    from llmops.serving import get_endpoint, log_tail

    endpoint = get_endpoint(_store(), endpoint_id)
    typer.echo(log_tail(endpoint.log_path, lines))


@serve_app.command("load-adapter")
def load_adapter(
    endpoint_id: str = typer.Argument(..., help="The endpoint id (a vLLM one)."),
    name: str = typer.Argument(..., help="The model name the adapter is served as."),
    path: str = typer.Argument(..., help="The adapter folder, as the server sees it."),
) -> None:
    """Hot-load a LoRA adapter into a running vLLM endpoint."""
    # lazy: keeps import llmops light
    from llmops.serving import load_adapter as load

    endpoint = load(_store(), endpoint_id, name, path)
    console.print(f"{endpoint.id} serves adapter '{name}' ({len(endpoint.adapters)} in all)")


@serve_app.command("unload-adapter")
def unload_adapter(
    endpoint_id: str = typer.Argument(..., help="The endpoint id (a vLLM one)."),
    name: str = typer.Argument(..., help="The adapter's served name."),
) -> None:
    """Unload a LoRA adapter from a running vLLM endpoint."""
    # lazy: keeps import llmops light
    from llmops.serving import unload_adapter as unload

    endpoint = unload(_store(), endpoint_id, name)
    console.print(f"{endpoint.id} no longer serves '{name}'")

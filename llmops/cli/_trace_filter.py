"""The trace-filter options that ``traces list``, ``queues create`` and ``datasets create``
share: declared once here, added to a command by :func:`with_trace_filter` and handed to it as
one :class:`TraceFilterOptions`, which builds the store's ``TraceFilter``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar, get_type_hints

import typer

__all__ = [
    "MODEL",
    "NAME",
    "NO_FILTER",
    "PROMPT",
    "ROUTE",
    "SESSION",
    "STATUS",
    "TAG",
    "USER",
    "TraceFilterOptions",
    "with_trace_filter",
]

SINCE = typer.Option(None, "--since", help="Only traces started since: 30m, 2h, 7d or an ISO time.")
NAME = typer.Option(None, "--name", help="Root span name contains this.")
STATUS = typer.Option(
    None, "--status", help="OK, ERROR (any span failed) or UNSET (the root's, none failed)."
)
SESSION = typer.Option(None, "--session", help="Session id.")
USER = typer.Option(None, "--user", help="User id.")
MODEL = typer.Option(None, "--model", help="A span called this model (gen_ai.request.model).")
TAG = typer.Option(None, "--tag", help="A span carries this tag.")
PROMPT = typer.Option(
    None, "--prompt", help="A span rendered this registry prompt: NAME or NAME@VERSION."
)
ROUTE = typer.Option(
    None, "--route", help="A span's route resolved to this version (llmops.route.version)."
)
MIN_MS = typer.Option(None, "--min-ms", help="Root span took at least this many milliseconds.")
SEARCH = typer.Option(
    None,
    "--search",
    "-s",
    help="Text in any span's name, attributes (inputs, outputs), status message or events.",
)
SCORE = typer.Option(
    None,
    "--score",
    help="A score condition (repeatable, all must hold): 'helpful<0.5', 'tone=polite'. A "
    "trace's value is the mean of its scores of that name; traces without one never match.",
)


@dataclass(frozen=True)
class TraceFilterOptions:
    """The filter options as given (None: not given)."""

    since: str | None = None
    name: str | None = None
    status: str | None = None
    session: str | None = None
    user: str | None = None
    model: str | None = None
    tag: str | None = None
    prompt: str | None = None
    route: str | None = None
    min_ms: float | None = None
    search: str | None = None
    score: list[str] | None = None

    @property
    def given(self) -> bool:
        """Whether any option was given (an empty --search counts as none)."""
        chosen = (self.since, self.name, self.status, self.session, self.user, self.model)
        more = (self.tag, self.prompt, self.route, self.min_ms)
        return any(v is not None for v in (*chosen, *more)) or bool(self.search or self.score)

    def where(self) -> Any:
        """The ``TraceFilter`` (a bad --since, --prompt, --route or --score is an InputError)."""
        # lazy: keeps import llmops light
        from llmops._exceptions import InputError
        from llmops.tracing import TraceFilter, parse_prompt_ref, parse_score_filter, since_ns

        if self.prompt is not None:
            parse_prompt_ref(self.prompt, "--prompt")
        if self.route is not None and not (self.route.strip() and self.route.isprintable()):
            raise InputError(f"--route: expected a route version, got {self.route[:100]!r}")

        return TraceFilter(
            since_ns=None if self.since is None else since_ns(self.since, "--since"),
            name=self.name,
            status=self.status,
            session_id=self.session,
            user_id=self.user,
            model=self.model,
            tag=self.tag,
            prompt=self.prompt,
            route=self.route,
            min_duration_ms=self.min_ms,
            text=self.search,
            scores=tuple(parse_score_filter(s) for s in self.score or ()),
        )


#: (parameter, type, option) per field of TraceFilterOptions, in the order --help lists them
_PARAMETERS = (
    ("since", str | None, SINCE),
    ("name", str | None, NAME),
    ("status", str | None, STATUS),
    ("session", str | None, SESSION),
    ("user", str | None, USER),
    ("model", str | None, MODEL),
    ("tag", str | None, TAG),
    ("prompt", str | None, PROMPT),
    ("route", str | None, ROUTE),
    ("min_ms", float | None, MIN_MS),
    ("search", str | None, SEARCH),
    ("score", list[str] | None, SCORE),
)
#: the default of a command's ``filters`` parameter (typer passes the options in its place)
NO_FILTER = TraceFilterOptions()
assert [p[0] for p in _PARAMETERS] == [f.name for f in fields(TraceFilterOptions)]
_PREFIX = "filter_"  # the options' parameter names, apart from the command's own

Command = TypeVar("Command", bound=Callable[..., Any])


def with_trace_filter(command: Command) -> Command:
    """Give ``command`` the filter options in place of its ``filters: TraceFilterOptions``
    parameter (so --help keeps the options where that parameter stands), and call it with
    them gathered into that one parameter."""
    hints = get_type_hints(command)
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command).parameters.values():
        if parameter.name != "filters":
            parameters.append(parameter.replace(annotation=hints[parameter.name]))
            continue
        parameters += [
            inspect.Parameter(_PREFIX + name, parameter.kind, default=option, annotation=annotation)
            for name, annotation, option in _PARAMETERS
        ]

    @functools.wraps(command)
    def run(**given: Any) -> Any:
        options = {name: given.pop(_PREFIX + name) for name, _, _ in _PARAMETERS}
        return command(**given, filters=TraceFilterOptions(**options))

    # typer reads the options from the signature and the types from the annotations
    signature = inspect.Signature(parameters, return_annotation=hints.get("return"))
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": hints.get("return")
    }
    return run  # type: ignore[return-value]

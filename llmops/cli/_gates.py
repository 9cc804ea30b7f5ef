"""``llmops gate`` and ``llmops promote``: decisions on eval evidence, and their audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmops._exceptions import CheckFailed
from llmops.cli._output import console, fmt_time, print_json
from llmops.cli._table import WIDE, Col, print_table

if TYPE_CHECKING:
    from llmops.gates import GateResult

__all__ = ["bundles_app", "gate_app", "promote_command"]

gate_app = typer.Typer(
    help="Production gates: check a candidate, sign off, roll back, read the audit trail.",
    no_args_is_help=True,
)

_SUBJECT = typer.Argument(..., help="KIND:NAME@VERSION, e.g. prompt:qa@3, model:support@2.")


def _print_gate(result: GateResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    verdict = "[green]PASS" if result.passed else "[red]FAIL"
    current = str(result.production) if result.production else "nothing yet"
    console.print(
        f"{verdict}[/] {escape(str(result.subject))} -> {result.alias} "
        f"(now: {escape(current)}) · policy {escape(result.policy.name)} · "
        f"decision {result.decision_id}"
    )
    table = Table(title="evidence", title_justify="left")
    for column in ("suite", "requirement", "measured", "result", "runs"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(
            escape(row.suite),
            escape(row.requirement),
            escape(row.measured),
            "[green]pass" if row.passed else "[red]fail",
            ", ".join(run[:12] for run in row.runs),
        )
    console.print(table)
    for note in result.notes:
        console.print(f"[dim]{escape(note)}")


@gate_app.command("check")
def check(
    subject: str = _SUBJECT,
    alias: str = typer.Option("production", "--alias", help="The alias the candidate is for."),
    rerun: bool = typer.Option(False, "--rerun", help="Run the suites even when runs exist."),
    reuse_only: bool = typer.Option(
        False, "--reuse-only", help="Run nothing: missing or stale evidence is an error."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Decide whether SUBJECT may become ALIAS; records the decision. Exit 0 pass, 1 fail."""
    # lazy: keeps import llmops light
    from llmops._aio import interrupt_policy
    from llmops.gates import check_gate

    with interrupt_policy():
        result = check_gate(subject, alias=alias, rerun=rerun, reuse_only=reuse_only)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_gate(result)
    if not result.passed:
        raise CheckFailed(f"gate failed for {result.subject} -> {alias}")


def promote_command(
    subject: str = _SUBJECT,
    to: str = typer.Option("production", "--to", help="The alias to move."),
    force: bool = typer.Option(False, "--force", help="Move it even if the gate fails."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (required with --force)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Move ALIAS to SUBJECT when its gate passes (or with --force, recorded as an override)."""
    # lazy: keeps import llmops light
    from llmops._aio import interrupt_policy
    from llmops.gates import promote

    with interrupt_policy():
        outcome = promote(subject, to=to, force=force, reason=reason)
    if as_json:
        print_json(outcome.to_dict())
    else:
        if outcome.gate is not None:
            _print_gate(outcome.gate)
        if outcome.moved:
            console.print(
                f"{to} -> {outcome.subject} ({outcome.decision}, decision {outcome.decision_id})"
            )
    if not outcome.moved:
        raise CheckFailed(f"gate failed: {to} stays where it was")


@gate_app.command("rollback")
def rollback_command(
    subject: str = typer.Argument(..., help="KIND:NAME, e.g. prompt:qa."),
    alias: str = typer.Option("production", "--alias"),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded)."),
) -> None:
    """Move ALIAS back to its previous version, recorded as a rollback decision."""
    # lazy: keeps import llmops light
    from llmops.gates import rollback

    outcome = rollback(subject, alias=alias, reason=reason)
    console.print(f"{alias} -> {outcome.subject} (rollback, decision {outcome.decision_id})")


@gate_app.command("signoff")
def signoff_command(
    subject: str = _SUBJECT,
    reason: str = typer.Option(..., "--reason", "-r", help="What you checked (recorded)."),
) -> None:
    """Record a human sign-off of SUBJECT (policies with human_signoff need one)."""
    # lazy: keeps import llmops light
    from llmops.gates import signoff

    decision_id = signoff(subject, reason=reason)
    console.print(f"signed off {subject} (decision {decision_id})")


@gate_app.command("history")
def history(
    subject: str | None = typer.Argument(None, help="KIND or KIND:NAME to filter, e.g. prompt:qa."),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The audit trail of gate decisions, newest first."""
    from rich.markup import escape

    from llmops.config import load_config
    from llmops.gates import list_decisions
    from llmops.store import open_store

    kind, _, name = (subject or "").partition(":")
    store = open_store(load_config().resolved_store_url)
    decisions = list_decisions(store, kind=kind or None, name=name or None, limit=limit)
    if as_json:
        print_json([decision.model_dump(mode="json") for decision in decisions])
        return
    columns = (
        Col("id", 0, id="full"),
        Col("when", 3),
        Col("subject", 0),
        Col("alias", 1),
        Col("decision", 0),
        Col("policy", 4),
        Col("who", 5),
        Col("why", 2),
    )
    rows = []
    for d in decisions:
        colour = {"pass": "green", "fail": "red", "override": "yellow"}.get(d.decision, "cyan")
        rows.append(
            (
                str(d.id),
                fmt_time(d.created_at),
                escape(f"{d.subject_kind}:{d.subject}"),
                d.alias,
                f"[{colour}]{d.decision}",
                escape(d.policy),
                escape(d.actor),
                escape(d.reason if wide else d.reason[:80]),
            )
        )
    print_table(columns, rows, wide=wide, empty="no gate decisions yet")


bundles_app = typer.Typer(
    help="Bundles: a prompt, a model and an index version promoted together.",
    no_args_is_help=True,
)


@bundles_app.command("create")
def bundle_create(
    name: str = typer.Argument(..., help="Bundle name."),
    prompt: str | None = typer.Option(None, "--prompt", help="Prompt ref, e.g. qa@3."),
    model: str | None = typer.Option(None, "--model", help="Registered model ref, e.g. bot@2."),
    index: str | None = typer.Option(None, "--index", help="RAG index ref, e.g. docs@4."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pin component versions as a new bundle version (aliases resolve to numbers now)."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.gates import create_bundle
    from llmops.store import open_store

    store = open_store(load_config().resolved_store_url)
    bundle = create_bundle(store, name, prompt=prompt, model=model, index=index)
    if as_json:
        print_json(bundle.to_dict())
    else:
        pins = ", ".join(f"{kind} {ref}" for kind, ref in bundle.components.items())
        console.print(f"bundle {bundle.ref}: {pins}")


@bundles_app.command("list")
def bundle_list(
    name: str | None = typer.Argument(None, help="Only this bundle's versions."),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Bundle versions, newest first."""

    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.gates import list_bundles
    from llmops.store import open_store

    bundles = list_bundles(open_store(load_config().resolved_store_url), name)
    if as_json:
        print_json([bundle.to_dict() for bundle in bundles])
        return
    columns = (
        Col("bundle", 0, id="full"),
        Col("prompt", 1),
        Col("model", 1),
        Col("index", 1),
        Col("by", 3),
        Col("created", 2),
    )
    rows = [
        (
            bundle.ref,
            bundle.components.get("prompt", "-"),
            bundle.components.get("model", "-"),
            bundle.components.get("index", "-"),
            bundle.author,
            fmt_time(bundle.created_at),
        )
        for bundle in bundles
    ]
    print_table(columns, rows, wide=wide, empty="no bundles yet")


@bundles_app.command("show")
def bundle_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (default: the newest version)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A bundle version: the versions it pins and the gate decisions on it."""
    # lazy: keeps import llmops light
    from rich.markup import escape

    from llmops.config import load_config
    from llmops.gates import bundle_history, get_bundle
    from llmops.store import open_store

    name, _, selector = ref.partition("@")
    store = open_store(load_config().resolved_store_url)
    bundle = get_bundle(store, name, selector or "latest")
    decisions = [p for p in bundle_history(store, name) if p.ref == bundle.ref]
    if as_json:
        print_json({**bundle.to_dict(), "decisions": [p.to_dict() for p in decisions]})
        return
    console.print(
        f"bundle {escape(bundle.ref)} · by {escape(bundle.author or '-')} · "
        f"{fmt_time(bundle.created_at)}"
    )
    print_table(
        (Col("kind", 0), Col("pinned", 0, id="full")),
        [(escape(kind), escape(pinned)) for kind, pinned in bundle.components.items()],
        wide=False,
        empty="pins nothing",
    )
    for p in decisions:
        console.print(
            f"decision {p.decision_id}: {escape(p.decision)} -> {escape(p.alias)} "
            f"by {escape(p.actor or '-')} {fmt_time(p.created_at)}"
        )


def _moves(moves: list[dict[str, object]]) -> str:
    def start(m: dict[str, object]) -> str:
        return f"v{m['from_version']}" if m["from_version"] is not None else "new"

    return ", ".join(f"{m['kind']} {m['name']} {start(m)}->v{m['to_version']}" for m in moves)


@bundles_app.command("history")
def bundle_history_command(
    name: str = typer.Argument(..., help="Bundle name."),
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="Newest decisions shown."),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Promotion history of a bundle: gate decisions, newest first, with the aliases moved."""
    # lazy: keeps import llmops light
    from rich.markup import escape

    from llmops._exceptions import NotFoundError
    from llmops.config import load_config
    from llmops.gates import bundle_history, list_bundles
    from llmops.store import open_store

    store = open_store(load_config().resolved_store_url)
    if not list_bundles(store, name):
        raise NotFoundError(f"bundle '{name}' not found")
    history = bundle_history(store, name, limit=limit)
    if as_json:
        print_json([p.to_dict() for p in history])
        return
    columns = (
        Col("decision", 0),
        Col("bundle", 0, id="full"),  # NAME@VERSION, as `bundles show` takes it
        Col("alias", 1),
        Col("verdict", 0),
        Col("moved", 2),
        Col("by", 3),
        Col("when", 2),
    )
    rows = [
        (
            str(p.decision_id),
            escape(p.ref),
            escape(p.alias),
            escape(p.decision),
            escape(_moves(p.moves) or "-"),
            escape(p.actor),
            fmt_time(p.created_at),
        )
        for p in history
    ]
    print_table(columns, rows, wide=wide, empty=f"no gate decisions on bundle '{escape(name)}' yet")

"""``llmops rag``: build, list, show, diff, alias, query and delete retrieval indexes."""

from __future__ import annotations

from typing import Any

import typer

from llmops.cli._aliases import print_events
from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["rag_app"]

rag_app = typer.Typer(help="Build and query versioned retrieval indexes.", no_args_is_help=True)
_JSON = typer.Option(False, "--json", help="Print JSON.")


def _store_and_config() -> tuple[Any, Any]:
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.store import open_store

    config = load_config()
    return open_store(config.resolved_store_url), config


@rag_app.command("build")
def build(
    pipeline: str = typer.Argument(..., help="Pipeline name (configs/rag/NAME.yaml) or YAML path."),
    as_json: bool = _JSON,
) -> None:
    """Load, chunk, embed and index the pipeline's sources as a new version."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from llmops._aio import interrupt_policy, interrupted_exit_code
    from llmops._exceptions import Interrupted
    from llmops.rag import build as build_index

    store, config = _store_and_config()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=as_json,
    )
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done)

    try:
        with interrupt_policy(), progress:
            info, skipped = build_index(
                pipeline, config=config, store=store, on_progress=on_progress
            )
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt) and interrupted_exit_code() is None:
            raise
        code = interrupted_exit_code() or 130
        raise Interrupted(
            f"{'terminated (SIGTERM)' if code == 143 else 'interrupted'}: rag build {pipeline} "
            "stopped; its new version was not made ready and earlier versions are unchanged",
            exit_code=code,
        ) from None
    if as_json:
        print_json({**info.to_dict(), "skipped": skipped})
        return
    for path, why in skipped:
        console.print(f"[yellow]skipped[/] {path}: {why}")
    console.print(
        f"built {info.ref}: {info.doc_count} documents, {info.chunk_count} chunks, "
        f"embedder {info.embedder}, {info.build_seconds:.1f} s, "
        f"corpus sha256 {info.corpus_hash[:12]}"
    )


@rag_app.command("list")
def list_(
    pipeline: str | None = typer.Argument(None, help="Only this pipeline."),
    wide: bool = WIDE,
    as_json: bool = _JSON,
) -> None:
    """List index versions, newest first."""
    # lazy: keeps import llmops light
    from llmops.rag import list_indexes

    store, _ = _store_and_config()
    indexes = list_indexes(store, pipeline)
    if as_json:
        print_json([info.to_dict() for info in indexes])
        return
    columns = (
        Col("index", 0, id="full"),
        Col("status", 1),
        Col("aliases", 1),
        Col("docs", 3, justify="right"),
        Col("chunks", 3, justify="right"),
        Col("embedder", 4),
        Col("built", 2),
        Col("seconds", 5, justify="right"),
    )
    rows = [
        (
            info.ref,
            info.status,
            ", ".join(info.aliases),
            str(info.doc_count),
            str(info.chunk_count),
            info.embedder,
            fmt_time(info.created_at),
            f"{info.build_seconds:.1f}",
        )
        for info in indexes
    ]
    print_table(columns, rows, wide=wide, empty="no indexes yet: try `llmops rag build PIPELINE`")


@rag_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS."), as_json: bool = _JSON
) -> None:
    """Show an index version's manifest."""
    # lazy: keeps import llmops light
    from llmops.rag import resolve_index

    store, _ = _store_and_config()
    info = resolve_index(store, ref)
    if as_json:
        print_json(info.to_dict())
        return
    for key in (
        "ref",
        "status",
        "aliases",
        "embedder",
        "splitter",
        "corpus_hash",
        "doc_count",
        "chunk_count",
        "build_seconds",
        "created_at",
    ):
        console.print(f"{key}: {info.to_dict()[key]}")
    console.print(f"files: {len(info.files)}")
    for item in info.files[:20]:
        console.print(f"  {item['path']}  {item['sha256'][:12]}")


@rag_app.command("diff")
def diff(
    a: str = typer.Argument(..., help="Old version, e.g. docs@1."),
    b: str = typer.Argument(..., help="New version, e.g. docs@2."),
    as_json: bool = _JSON,
) -> None:
    """Chunks added, removed and changed between two versions."""
    # lazy: keeps import llmops light
    from llmops.rag import diff_indexes

    store, _ = _store_and_config()
    result = diff_indexes(store, a, b)
    if as_json:
        print_json(result.to_dict())
        return
    for label, items, colour in (
        ("added", result.added, "green"),
        ("removed", result.removed, "red"),
        ("changed", result.changed, "yellow"),
    ):
        console.print(f"[{colour}]{label}: {len(items)}[/]")
        for source, position in items[:20]:
            console.print(f"  {source} #{position}")


@rag_app.command("alias")
def alias(
    pipeline: str = typer.Argument(...),
    alias_name: str = typer.Argument(..., metavar="ALIAS"),
    version: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Point an alias (e.g. production) at a ready version (recorded: who, when, from, to, why)."""
    import llmops.rag  # noqa: F401 - registers kind "index" with the alias service
    from llmops.store import set_alias

    store, _ = _store_and_config()
    move = set_alias(store, "index", pipeline, alias_name, version, reason=reason)
    if as_json:
        print_json(move.to_dict())
        return
    console.print(
        f"{pipeline}@{alias_name}: {move.from_version or '(new)'} -> {version} by {move.actor}"
    )


@rag_app.command("history")
def history(pipeline: str = typer.Argument(...), wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """Every move of the pipeline's index aliases."""
    from rich.markup import escape

    from llmops.store import alias_history

    store, _ = _store_and_config()
    moves = alias_history(store, "index", pipeline)
    if as_json:
        print_json([move.to_dict() for move in moves])
    elif moves:
        print_events(f"index:{escape(pipeline)} · alias moves", moves, wide=wide)
    else:
        console.print("no alias moves yet")


@rag_app.command("delete")
def delete(ref: str = typer.Argument(..., help="NAME@VERSION to delete.")) -> None:
    """Delete a version that no alias points to."""
    # lazy: keeps import llmops light
    from llmops.rag import delete_index

    store, config = _store_and_config()
    info = delete_index(store, ref, config.data_dir)
    console.print(f"deleted {info.ref}")


@rag_app.command("query")
def query(
    ref: str = typer.Argument(..., help="Index: NAME, NAME@VERSION or NAME@ALIAS."),
    question: str = typer.Argument(..., help="The query."),
    k: int | None = typer.Option(None, "--k", "-k", min=1, help="How many chunks."),
    mode: str | None = typer.Option(None, "--mode", help="dense, bm25 or hybrid."),
    answer: bool = typer.Option(True, "--answer/--no-answer", help="Also answer with the model."),
    as_json: bool = _JSON,
) -> None:
    """Print the retrieved chunks with scores, and the model's cited answer."""
    from rich.markup import escape

    from llmops._aio import interrupt_policy
    from llmops._exceptions import InputError
    from llmops.rag import answer as answer_question
    from llmops.rag import retrieve

    if mode not in (None, "dense", "bm25", "hybrid"):
        raise InputError(f"--mode {mode!r}: expected dense, bm25 or hybrid")
    store, config = _store_and_config()
    with interrupt_policy():
        if answer:
            result = answer_question(question, ref, k=k, mode=mode, config=config, store=store)  # type: ignore[arg-type]
            chunks, text, cited = result.chunks, result.text, result.citations
        else:
            chunks = retrieve(question, ref, k=k, mode=mode, config=config, store=store)  # type: ignore[arg-type]
            text, cited = None, []
    if as_json:
        print_json({"chunks": [c.to_dict() for c in chunks], "answer": text, "citations": cited})
        return
    for number, chunk in enumerate(chunks, start=1):
        mark = " [green]cited[/]" if chunk.id in cited else ""
        console.print(
            f"[bold][{number}][/] {chunk.score:.4f} {chunk.metadata.get('source', chunk.id)}{mark}"
        )
        console.print(f"    {escape(short(chunk.text, 160))}")
    if text is not None:
        console.print(f"\n[bold]answer:[/] {escape(text)}")

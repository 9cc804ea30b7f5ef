"""``llmops store``: schema migrations and store information."""

from __future__ import annotations

import typer

from llmops.cli._output import console, print_json

__all__ = ["store_app"]

store_app = typer.Typer(help="Manage the llmops store.", no_args_is_help=True)


@store_app.command("upgrade")
def upgrade() -> None:
    """Migrate the store to the schema of this llmops version."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.store import Store, display_url

    url = load_config().resolved_store_url
    store = Store(url)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    console.print(f"store {display_url(url)}: revision {before or '(empty)'} -> {after}")


@store_app.command("info")
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the store URL, backend and schema revision."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.store import Store, display_url, head_revision

    config = load_config()
    store = Store(config.resolved_store_url)
    data = {
        "url": display_url(store.url),
        "backend": store.dialect,
        "revision": store.revision(),
        "head": head_revision(),
        "project_dir": str(config.project_dir or ""),
    }
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")

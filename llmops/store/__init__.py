"""The llmops store: SQLModel tables on SQLite (embedded default) or PostgreSQL."""

from llmops.store._store import Store, head_revision, open_store

__all__ = ["Store", "head_revision", "open_store"]

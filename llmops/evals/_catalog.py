"""Importing this module registers every built-in scorer type (the imports are the catalog)."""

from llmops.evals import (
    _embedding_scorers,  # noqa: F401
    _judges,  # noqa: F401
    _rag_metrics,  # noqa: F401
    _retrieval_scorers,  # noqa: F401
    _scorers,  # noqa: F401
    _text_scorers,  # noqa: F401
)

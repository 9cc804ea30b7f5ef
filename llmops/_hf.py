"""Hugging Face ``datasets``, imported offline and run quietly without changing its settings.

Local files are read through ``datasets`` (CSV, JSON, parquet, saved datasets); llmops never
needs the Hub, so the import happens with the Hub's offline switches set (read once, at import)
and the progress bars and log level are changed only while llmops reads, then put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from llmops._env import defaults_during

__all__ = ["import_datasets", "quiet_datasets"]


def import_datasets() -> Any:
    """The ``datasets`` module (``ImportError`` when it is not installed)."""
    with defaults_during(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1"):
        import datasets  # lazy: heavy, and only some sources need it
    return datasets


@contextlib.contextmanager
def quiet_datasets(datasets: Any) -> Iterator[None]:
    """No progress bars and only errors logged by ``datasets`` during the block."""
    bars_were_off = datasets.utils.are_progress_bars_disabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if not bars_were_off:
            datasets.enable_progress_bars()

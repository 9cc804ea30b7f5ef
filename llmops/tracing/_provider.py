"""The process's tracer provider: OpenTelemetry SDK, spans batched into the llmops store."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from llmops.store import Store, open_store

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from llmops.tracing._exporter import StoreSpanExporter

__all__ = ["configure_tracing", "failed_span_count", "flush", "get_tracer", "shutdown_tracing"]

_lock = threading.Lock()
_provider: TracerProvider | None = None
_exporter: StoreSpanExporter | None = None


def configure_tracing(store: Store | None = None) -> TracerProvider:
    """(Re)build the provider so spans go to ``store`` (default: the project store)."""
    global _provider, _exporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from llmops.tracing._exporter import StoreSpanExporter

    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _exporter = StoreSpanExporter(store or open_store())
        provider = TracerProvider(shutdown_on_exit=True)
        provider.add_span_processor(
            BatchSpanProcessor(
                _exporter,
                max_queue_size=65_536,
                max_export_batch_size=512,
                schedule_delay_millis=200,
            )
        )
        _provider = provider
        return provider


def get_tracer() -> Tracer:
    """The llmops tracer, configuring tracing to the project store on first use."""
    provider = _provider or configure_tracing()
    return provider.get_tracer("llmops")


def flush(timeout_millis: int = 30_000) -> bool:
    """Write every finished span to the store now; False if it did not finish in time."""
    provider = _provider
    return provider.force_flush(timeout_millis) if provider is not None else True


def failed_span_count() -> int:
    """Spans the exporter could not write (reported, never silently dropped)."""
    return _exporter.failed_spans if _exporter is not None else 0


def shutdown_tracing() -> None:
    """Flush and stop the provider."""
    global _provider, _exporter
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider = None
        _exporter = None

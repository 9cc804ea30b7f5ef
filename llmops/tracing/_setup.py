"""Build the process's span pipeline from the project config."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmops._exceptions import ConfigError
from llmops.tracing._pipeline import SpanPipeline, SpanSink, install_exit_handlers
from llmops.tracing._redact import Redactor

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.store import Store

__all__ = ["build_pipeline"]


def build_pipeline(config: Config | None = None, store: Store | None = None) -> SpanPipeline:
    """Sinks, redaction, batching and the spill folder as configured; exit handlers installed."""
    from llmops.config import load_config

    config = config or load_config()
    settings = config.tracing
    sinks: list[SpanSink] = []
    enabled = settings.enabled and os.environ.get("LLMOPS_TRACING", "1") != "0"
    if enabled and (settings.store or store is not None):
        from llmops.store import open_store
        from llmops.tracing._sinks import StoreSink

        sinks.append(StoreSink(store or open_store(config.resolved_store_url)))
    if enabled and settings.otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError(
                "tracing.otlp_endpoint needs opentelemetry-exporter-otlp-proto-http "
                "(pip install 'llmops[otlp]')"
            ) from None
        from llmops.tracing._sinks import OTelExporterSink

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=settings.otlp_headers)
        sinks.append(OTelExporterSink(exporter, name="otlp"))
    pipeline = SpanPipeline(
        sinks,
        redactor=Redactor(
            settings.redact_patterns,
            redact_emails=settings.redact_emails,
            max_chars=settings.max_attribute_chars,
        ),
        batch_size=settings.batch_size,
        interval_s=settings.flush_interval_ms / 1000,
        max_queue=settings.max_queue,
        spill_dir=config.data_dir / "spill" if sinks else None,
    )
    install_exit_handlers()
    return pipeline

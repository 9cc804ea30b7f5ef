"""Build the process's span pipeline from the project config."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from llmops._exceptions import ConfigError
from llmops.store import open_store
from llmops.tracing._cost import Price, Pricing
from llmops.tracing._pipeline import SpanPipeline, SpanSink, install_exit_handlers
from llmops.tracing._redact import Redactor

if TYPE_CHECKING:
    from llmops.config import Config, ModelPrice, TracingConfig
    from llmops.store import Store

__all__ = [
    "build_pipeline",
    "current_redactor",
    "fallback_pipeline",
    "pricing_for",
    "redactor_for",
    "resource_for",
]

_log = logging.getLogger("llmops.tracing")


class _Unavailable:
    """A sink standing for a store that could not be opened: every write fails, so spans spill."""

    name = "unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def write(self, rows: Any) -> None:
        raise RuntimeError(self.reason)


def fallback_pipeline(exc: Exception) -> SpanPipeline:
    """When the configured destination cannot be opened: spans go to the spill folder (replayed
    by the next process whose store works) and one warning is logged."""
    from pathlib import Path

    reason = f"{type(exc).__name__}: {exc}"
    _log.warning(
        "llmops tracing: cannot open the span store (%s); spans are spilled to disk", reason
    )
    try:
        # lazy: keeps import llmops light
        from llmops.config import load_config

        spill = load_config().data_dir / "spill"
    except Exception:
        spill = Path.home() / ".llmops" / "spill"
    return SpanPipeline([_Unavailable(reason)], spill_dir=spill, retries=1)


def build_pipeline(config: Config | None = None, store: Store | None = None) -> SpanPipeline:
    """Sinks, redaction, batching and the spill folder as configured; exit handlers installed."""
    # lazy: keeps import llmops light
    from llmops.config import load_config

    config = config or load_config()
    settings = config.tracing
    sinks: list[SpanSink] = []
    enabled = settings.enabled and os.environ.get("LLMOPS_TRACING", "1") != "0"
    if enabled and (settings.store or store is not None):
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
        sink = OTelExporterSink(
            exporter,
            name="otlp",
            resource=resource_for(settings, redactor_for(settings)),
            openinference=settings.otlp_openinference,
        )
        sinks.append(sink)
    pipeline = SpanPipeline(
        sinks,
        redactor=redactor_for(settings),
        pricing=pricing_for(config.pricing),
        batch_size=settings.batch_size,
        interval_s=settings.flush_interval_ms / 1000,
        max_queue=settings.max_queue,
        spill_dir=config.data_dir / "spill" if sinks else None,
    )
    install_exit_handlers()
    return pipeline


_resources: dict[tuple[Any, ...], dict[str, Any]] = {}


def resource_for(settings: TracingConfig, redactor: Redactor) -> dict[str, Any]:
    """The OpenTelemetry resource of the app's spans, masked: ``tracing.resource_attributes``
    and ``tracing.service_name``, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (the
    environment wins, as in every OTel SDK), then the SDK's ``telemetry.sdk.*``, its
    ``service.instance.id`` and its default ``service.name`` (``unknown_service:python``)."""
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource

    key = (
        tuple(sorted(settings.resource_attributes.items())),
        settings.service_name,
        os.environ.get("OTEL_RESOURCE_ATTRIBUTES"),
        os.environ.get("OTEL_SERVICE_NAME"),
        id(redactor),
    )
    cached = _resources.get(key)  # once per process: service.instance.id is a fresh UUID
    if cached is not None:
        return cached
    configured: dict[str, Any] = dict(settings.resource_attributes)
    if settings.service_name:
        configured["service.name"] = settings.service_name
    # Resource.create lets its argument win over the environment: merge the other way first
    configured.update(OTELResourceDetector().detect().attributes)
    # OTEL_RESOURCE_ATTRIBUTES is free text an app may fill with anything: masked like spans
    resource = redactor.attributes(dict(Resource.create(configured).attributes))
    if len(_resources) >= 64:
        _resources.clear()
    _resources[key] = resource
    return resource


_redactors: dict[tuple[tuple[str, ...], bool, int], Redactor] = {}


def redactor_for(settings: TracingConfig) -> Redactor:
    """The redactor the tracing settings describe (patterns, e-mails, the truncation limit);
    one per distinct settings, as its caches of redacted keys and names pay off over time."""
    key = (tuple(settings.redact_patterns), settings.redact_emails, settings.max_attribute_chars)
    redactor = _redactors.get(key)
    if redactor is None:
        redactor = Redactor(key[0], redact_emails=key[1], max_chars=key[2])
        if len(_redactors) >= 64:
            _redactors.clear()
        _redactors[key] = redactor
    return redactor


def current_redactor(config: Config | None = None) -> Redactor:
    """The redactor of ``config``, else of the installed span pipeline, else of the project
    config: what eval results, tracked runs and OTel exporter spans are masked with."""
    if config is not None:
        return redactor_for(config.tracing)
    from llmops.tracing import _pipeline

    pipeline = _pipeline._pipeline
    if pipeline is not None:
        return pipeline.redactor
    # lazy: keeps import llmops light
    from llmops.config import load_config

    return redactor_for(load_config().tracing)


_pricings: dict[tuple[tuple[str, float, float, float | None], ...], Pricing] = {}


def pricing_for(prices: dict[str, ModelPrice]) -> Pricing:
    """The pricing of the config's ``pricing:`` (then litellm's bundled map); one per distinct
    prices, as its cache of looked-up models pays off over time."""
    key = tuple(
        (name, p.input_per_million, p.output_per_million, p.cached_input_per_million)
        for name, p in sorted(prices.items())
    )
    pricing = _pricings.get(key)
    if pricing is None:
        custom = {
            name: Price(i / 1e6, o / 1e6, None if c is None else c / 1e6) for name, i, o, c in key
        }
        pricing = Pricing(custom)
        if len(_pricings) >= 64:
            _pricings.clear()
        _pricings[key] = pricing
    return pricing

"""`configure()`: where spans go, under which service name, with which token, and what to record."""

from __future__ import annotations

import atexit
import logging
import os
import threading

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spyglass import _settings
from spyglass._delivery import SizedExporter

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
TRACES_PATH = "/v1/traces"
# The exporter gives up on a request (and its retries) after this long; meanwhile spans wait in
# the processor's bounded queue.
EXPORT_TIMEOUT_S = 10
# At exit, the last spans get this long to leave. A collector that is up takes milliseconds; one
# that is down would otherwise hold the app's exit for the exporter's whole retry budget.
EXIT_FLUSH_TIMEOUT_S = 3

log = logging.getLogger("spyglass")
# (traces URL, provider) once configure() has set up the export.
_configured: tuple[str, TracerProvider] | None = None


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The full traces URL, from the first of: the argument, SPYGLASS_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is, as the OTel spec says),
    OTEL_EXPORTER_OTLP_ENDPOINT, and the local default."""
    base = endpoint or os.environ.get("SPYGLASS_ENDPOINT")
    if not base:
        traces_url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if traces_url:
            return traces_url
        base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def configure(
    endpoint: str | None = None,
    service_name: str | None = None,
    token: str | None = None,
    capture_content: bool | None = None,
    *,
    keep_media: bool | None = None,
) -> TracerProvider:
    """Send spans to a Spyglass collector, batched in the background and flushed at exit.

    `capture_content=False` (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false)
    records metadata only. `keep_media=True` keeps base64 image and document data.

    When the app already has an OpenTelemetry SDK tracer provider, Spyglass's exporter is added
    to it; otherwise a new provider is made and becomes the global one. Returns the provider.
    """
    if capture_content is None:
        capture_content = _settings.from_environment().capture_content
    changes: dict[str, bool] = {"capture_content": capture_content}
    if keep_media is not None:
        changes["keep_media"] = keep_media
    _settings.update(**changes)

    global _configured
    url = resolve_endpoint(endpoint)
    if _configured is not None:
        # A second exporter would send every span twice; only the recording settings change.
        configured_url, provider = _configured
        if url != configured_url:
            log.warning(
                "spyglass is already sending to %s; configure() again does not change it",
                configured_url,
            )
        return provider

    token = token or os.environ.get("SPYGLASS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = OTLPSpanExporter(endpoint=url, headers=headers, timeout=EXPORT_TIMEOUT_S)
    processor = BatchSpanProcessor(SizedExporter(exporter))
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        provider = existing
        if service_name:
            log.warning(
                "spyglass: the app's tracer provider already names the service; "
                "service_name=%r is not applied",
                service_name,
            )
    else:
        attributes = {SERVICE_NAME: service_name} if service_name else {}
        # Resource.create also reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
        provider = TracerProvider(resource=Resource.create(attributes))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    # Registered after the provider's own exit hook, so it runs first (atexit is last in, first
    # out); the provider's shutdown of this processor is then a no-op.
    atexit.register(_flush_at_exit, processor, exporter)
    _configured = (url, provider)
    return provider


def _flush_at_exit(processor: BatchSpanProcessor, exporter: OTLPSpanExporter) -> None:
    """Send the last spans, giving up on a collector that is down or silent after
    EXIT_FLUSH_TIMEOUT_S: the flush runs in a daemon thread, which the exit does not wait for."""
    flush = threading.Thread(target=processor.shutdown, name="spyglass-exit-flush", daemon=True)
    flush.start()
    flush.join(EXIT_FLUSH_TIMEOUT_S)
    if flush.is_alive():
        # Stops the exporter's retry back-off; a request already waiting is left to the exit.
        exporter.shutdown()

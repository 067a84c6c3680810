"""`configure()`: where spans go, under which service name, with which token, and what to record."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spyglass import _settings

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
TRACES_PATH = "/v1/traces"
# The exporter gives up on a request after this long, so a collector that hangs costs the
# app's exit at most this much; meanwhile spans wait in the processor's bounded queue.
EXPORT_TIMEOUT_S = 10


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
    keep_media: bool = False,
) -> TracerProvider:
    """Send spans to a Spyglass collector, batched in the background and flushed at exit.

    `capture_content=False` (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false)
    records metadata only. `keep_media=True` keeps base64 image and document data.

    When the app already has an OpenTelemetry SDK tracer provider, Spyglass's exporter is added
    to it; otherwise a new provider is made and becomes the global one. Returns the provider.
    """
    if capture_content is None:
        capture_content = _settings.from_environment().capture_content
    _settings.update(capture_content=capture_content, keep_media=keep_media)

    token = token or os.environ.get("SPYGLASS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = OTLPSpanExporter(
        endpoint=resolve_endpoint(endpoint), headers=headers, timeout=EXPORT_TIMEOUT_S
    )
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        existing.add_span_processor(BatchSpanProcessor(exporter))
        return existing
    attributes = {SERVICE_NAME: service_name} if service_name else {}
    # Resource.create also reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider

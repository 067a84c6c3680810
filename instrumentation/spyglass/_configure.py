"""`configure()`: where spans go, under which service name, with which token."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
TRACES_PATH = "/v1/traces"


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
    capture_content: bool = True,
) -> TracerProvider:
    """Send spans to a Spyglass collector, batched in the background and flushed at exit.

    Returns the tracer provider, which also becomes the global one.
    """
    token = token or os.environ.get("SPYGLASS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    attributes = {SERVICE_NAME: service_name} if service_name else {}
    # Resource.create also reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = OTLPSpanExporter(endpoint=resolve_endpoint(endpoint), headers=headers)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    global _capture_content
    _capture_content = capture_content
    return provider


_capture_content = True

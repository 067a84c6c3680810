"""The Spyglass collector: OTLP/HTTP receiver, span store, REST API and web pages."""

__version__ = "0.1.0"

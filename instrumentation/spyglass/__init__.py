"""Spyglass's client: record every Claude call your app makes, for a Spyglass collector.

import anthropic, spyglass

spyglass.configure()
client = anthropic.Anthropic()
spyglass.instrument_anthropic(client)
with spyglass.span("Answering a question", user="ada"):
    client.messages.create(...)
"""

__version__ = "0.1.0"

from spyglass._anthropic import instrument_anthropic  # noqa: E402
from spyglass._configure import configure  # noqa: E402
from spyglass._spans import span  # noqa: E402

__all__ = ["__version__", "configure", "instrument_anthropic", "span"]

"""Spyglass's client: send your app's spans to a Spyglass collector.

import spyglass
spyglass.configure()
with spyglass.span("Answering a question", user="ada"):
    ...
"""

from spyglass._configure import configure
from spyglass._spans import span

__version__ = "0.1.0"
__all__ = ["__version__", "configure", "span"]

"""Where the templates and migrations live: at the top of a source checkout, inside a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    # A wheel carries them inside the package (see pyproject.toml); a checkout keeps them beside it.
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name!r} directory is missing from this installation")

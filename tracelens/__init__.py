"""tracelens: what happened to AWS Lambda events between the caller and the function."""

from __future__ import annotations

from tracelens._version import __version__
from tracelens.errors import TracelensError

__all__ = ["TracelensError", "__version__"]

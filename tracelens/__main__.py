"""``python -m tracelens``: the command line."""

from __future__ import annotations

from tracelens.cli import main

main()

"""The ``llamonitor`` command line (entry point :func:`llamonitor.cli.main.main`)."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llamonitor`` command (see :func:`llamonitor.cli.main.main`)."""
    # Imported on call so that ``python -m llamonitor.cli.main`` does not find the module
    # already imported by its package (runpy warns about that).
    from llamonitor.cli.main import main as run

    return run(argv)


__all__ = ["main"]

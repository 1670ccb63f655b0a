"""Reads the ```python blocks of the vendored seed README (docs/seed/SEED-README.md) by heading.

Shared by the tests that run the seed's snippets verbatim (core, analytics).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[4]  # packages/testkits/src/testkits: an editable workspace install
SEED = REPO / "docs" / "seed" / "SEED-README.md"


def seed_blocks() -> list[tuple[str, str]]:
    """(heading, code) of every ```python block, in order."""
    heading = ""
    blocks: list[tuple[str, str]] = []
    lines = SEED.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        if lines[i].strip() == "```python":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            blocks.append((heading, "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return blocks


def seed_block(heading_prefix: str, index: int = 0) -> str:
    """The ``index``-th python block under a heading starting with ``heading_prefix``."""
    return [code for heading, code in seed_blocks() if heading.startswith(heading_prefix)][index]

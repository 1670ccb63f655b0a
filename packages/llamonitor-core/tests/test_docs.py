"""Docs stay true: the configuration reference is generated, and every relative link resolves."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_configuration_reference_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "docs/_tools/config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    assert current == module.render(), "run: uv run python docs/_tools/config_reference.py > docs/configuration.md"


def test_relative_links_in_markdown_resolve() -> None:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "packages").glob("*/README.md"))]
    broken = []
    for md in files:
        if "seed" in md.parts:  # the seed README is kept verbatim, links and all
            continue
        text = md.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = (md.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{md.relative_to(REPO)} -> {target}")
    assert broken == []

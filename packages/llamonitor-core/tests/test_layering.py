"""Imports run one way: schema <- backends <- transport / query <- api / cli (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import llamonitor
import pytest

SRC = Path(llamonitor.__file__).parent
#: package -> llamonitor packages it must never import (at module level or inside functions)
FORBIDDEN = {
    # schema may read backends.registry (a leaf table of names, no imports) while validating a config
    "schema": ("transport", "query", "api", "cli", "analytics", "exporters", "ingest", "instrumentation"),
    "backends": ("transport", "query", "api", "cli", "analytics", "exporters", "ingest"),
    "query": ("transport", "api", "cli", "ingest"),
    "transport": ("query", "api", "cli"),
}


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] == "llamonitor" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert not bad, "\n".join(bad)


def test_schema_reads_only_the_registry_of_backends() -> None:
    used = {m for path in (SRC / "schema").rglob("*.py") for m in _imports(path) if m.startswith("llamonitor.backends")}
    assert used <= {"llamonitor.backends.registry", "llamonitor.backends.identifiers"}, used


def test_backends_are_named_in_one_registry_only() -> None:
    """Backend names as string literals live in backends/registry.py (and each backend's own module)."""
    from llamonitor.backends.registry import BUILTIN

    names = {n for spec in BUILTIN for n in (spec.name, *spec.aliases)}
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "backends" or rel.parts[:2] == ("api", "tail.py") or rel.parts[0] in ("cli", "pricing"):
            continue  # writers, CLI help texts and price sources may name themselves
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in names
                                                     for c in node.comparators):
                bad.append(f"{rel}:{node.lineno}")
    assert not bad, "backend names compared outside the registry: " + ", ".join(bad)

"""Generate docs/configuration.md from the config models (a test keeps it in sync).

Run: ``uv run python docs/_tools/config_reference.py > docs/configuration.md``
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

from llamonitor.measurement.config import MeasurementConfig
from llamonitor.schema.config import (
    APIConfig,
    DatadogConfig,
    MonitorConfig,
    OTLPConfig,
    PrometheusConfig,
    SamplingConfig,
    StorageConfig,
    WebSocketConfig,
)
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MODELS: list[type[BaseModel]] = [MonitorConfig, StorageConfig, SamplingConfig, MeasurementConfig, PrometheusConfig,
                                DatadogConfig, OTLPConfig, WebSocketConfig, APIConfig]


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("collections.abc.", "").replace("|", "\\|")


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return f"`{type(value).__name__}()`"
    else:
        return "required"
    return f"`{value!r}`"


def _limits(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                parts.append(f"{sign} {getattr(meta, attr)}")
    return ", ".join(parts)


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the ``#:`` comment lines right above it in the class body."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        pending = []
    return found


def render() -> str:
    out = ["# Configuration reference", "",
           "Generated from the config models by `docs/_tools/config_reference.py`; "
           "`test_docs.py` fails when it is out of date. Every value is validated when a config is "
           "built or assigned, and errors name the field.", "",
           "## Validation", "",
           "Checked when a config is built (no I/O): `extensions` names (`\"promethues\"` -> "
           "`unknown extension 'promethues'; did you mean 'prometheus'?`, closest name by difflib), "
           "`storage.options` keys of the built-in backends (`BackendSpec.options` in `backends/registry.py`, "
           "closest key suggested; a registered backend reads its own options), an empty `output_dir` "
           "or `spill_dir`.", "",
           "Checked by `initialize_monitoring` before anything starts (`MonitorConfig.check_before_start`; "
           "these do I/O, so constructing a config never does): `spill_dir` and, for Parquet, "
           "`storage.output_dir` are created if missing and must accept a file "
           "(`UnwritablePathError`, a `ValueError` and `OSError` naming the field, for a read-only "
           "folder or a regular file in the way); names and options again (a dict mutated in place "
           "escapes pydantic). MariaDB / MySQL: the database named in the DSN must exist unless "
           "`StorageConfig(create_database=True)` (before, a typo was silently created); PostgreSQL "
           "refuses a missing database at connect time (the schema is created). The path and name "
           "checks run before a running writer is replaced. Tests: `tests/reliability/test_bounds.py`.", ""]
    for model in MODELS:
        doc = inspect.getdoc(model) or ""
        out += [f"## `{model.__name__}`", "", doc, "",
                "| field | type | default | limits | meaning |", "| --- | --- | --- | --- | --- |"]
        comments = _comments(model)
        for name, field in model.model_fields.items():
            meaning = (field.description or comments.get(name, "")).replace("|", "\\|")
            out.append(f"| `{name}` | `{_type(field.annotation)}` | {_default(field)} | {_limits(field)} "
                       f"| {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())

"""The standard ``OTEL_*`` environment variables, read for the OTLP exporter.

An OpenTelemetry deployment configures exporters through the environment (the OpenTelemetry
SDK's ``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), so the same
variables point llamonitor's spans at the same collector. A variable fills a setting that the
configuration left at its default; a setting given in the configuration wins (for headers and
resource attributes, key by key). The per-signal ``..._TRACES_...`` variables win over the
general ones, as the specification says. A malformed variable is an error naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from llamonitor.schema.config import OTLPConfig

logger = logging.getLogger("llamonitor")
_DEFAULTS = OTLPConfig()
_PREFIX = "OTEL_EXPORTER_OTLP_"


def parse_key_values(raw: str, name: str) -> dict[str, str]:
    """``key1=value1,key2=value2`` (values percent-decoded), as ``OTEL_*_HEADERS`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` are written; ``name`` is the variable, for the error."""
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{name} must be a comma-separated list of key=value pairs; got {item.strip()!r}")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def _pick(env: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    """``(variable name, value)`` of the traces variable, else the general one."""
    for name in (f"{_PREFIX}TRACES_{suffix}", f"{_PREFIX}{suffix}"):
        value = env.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def otlp_settings_from_env(settings: OTLPConfig, environ: Mapping[str, str]) -> OTLPConfig:
    """``settings`` with the ``OTEL_EXPORTER_OTLP_*`` variables filling what it left at defaults."""
    update: dict[str, Any] = {}
    if settings.endpoint == _DEFAULTS.endpoint:
        if traces := environ.get(f"{_PREFIX}TRACES_ENDPOINT", "").strip():
            update["endpoint"] = traces  # used as is (the specification's rule)
        elif base := environ.get(f"{_PREFIX}ENDPOINT", "").strip():
            update["endpoint"] = base.rstrip("/") + "/v1/traces"
    if settings.timeout_seconds == _DEFAULTS.timeout_seconds and (found := _pick(environ, "TIMEOUT")):
        name, raw = found
        try:
            millis = float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number of milliseconds; got {raw!r}") from None
        if millis <= 0:
            raise ValueError(f"{name} must be a positive number of milliseconds; got {raw!r}")
        update["timeout_seconds"] = millis / 1000
    if settings.compression == _DEFAULTS.compression and (found := _pick(environ, "COMPRESSION")):
        name, raw = found
        if raw.lower() not in ("gzip", "none"):
            raise ValueError(f"{name} must be 'gzip' or 'none'; got {raw!r}")
        update["compression"] = raw.lower()
    headers: dict[str, str] = {}
    for name in (f"{_PREFIX}HEADERS", f"{_PREFIX}TRACES_HEADERS"):  # later wins
        if environ.get(name, "").strip():
            headers.update(parse_key_values(environ[name], name))
    if headers:
        explicit = {k.lower() for k in settings.headers}
        update["headers"] = {**{k: v for k, v in headers.items() if k.lower() not in explicit}, **settings.headers}
    if raw := environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip():
        attrs = parse_key_values(raw, "OTEL_RESOURCE_ATTRIBUTES")
        update["resource_attributes"] = {**attrs, **settings.resource_attributes}
    if (found := _pick(environ, "PROTOCOL")) and found[1] != "http/protobuf":
        logger.warning("llamonitor: %s=%r: llamonitor's OTLP exporter sends http/protobuf to %s", found[0],
                       found[1], update.get("endpoint", settings.endpoint))
    return settings.model_copy(update=update) if update else settings


def service_name_from_env(environ: Mapping[str, str]) -> str | None:
    """``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, else ``None``."""
    if name := environ.get("OTEL_SERVICE_NAME", "").strip():
        return name
    raw = environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip()
    return parse_key_values(raw, "OTEL_RESOURCE_ATTRIBUTES").get("service.name") if raw else None

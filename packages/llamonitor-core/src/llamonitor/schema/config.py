"""Configuration models: ``MonitorConfig``, ``StorageConfig`` and the extension configs.

Validated with pydantic at the edge (never on the hot path). Every error names the field and,
for choices, the allowed values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from llamonitor.measurement.config import MeasurementConfig

#: names ``MonitorConfig.extensions`` accepts
KNOWN_EXTENSIONS = ("prometheus", "datadog", "otlp", "websocket", "api")


def did_you_mean(value: str, choices: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` (difflib), or ``""``."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
OverflowPolicy = Literal["block", "drop_newest", "spill"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StorageConfig(_Strict):
    """Where events are stored.

    ``backend`` is one of ``parquet`` (default, embedded), ``postgres``, ``mysql``,
    ``clickhouse`` or a name given to :func:`llamonitor.backends.register_backend`.
    """

    #: ``parquet``, ``postgres`` / ``postgresql``, ``mysql``, ``clickhouse`` or a registered name
    backend: str = "parquet"
    #: Parquet root folder (files land in ``<output_dir>/<partition>/events_*.parquet``)
    output_dir: str = "./monitoring_data"
    #: DSN of a server backend (masked in logs)
    connection_string: str | None = None
    #: table of a SQL backend (letters, digits, underscore)
    table_name: str = "metric_events"
    #: database schema (PostgreSQL) or database (ClickHouse)
    schema_name: str | None = None
    #: connections in a server backend's pool
    pool_size: int = Field(default=10, ge=1, le=1000)
    #: the writer writes once this many events wait (or the flush interval passes)
    batch_size: int = Field(default=100, ge=1, le=1_000_000)
    #: the worker may coalesce queued events into writes this large when it is behind
    max_batch_size: int = Field(default=10_000, ge=1, le=10_000_000)
    #: longest time an event waits in the queue before it is written
    flush_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: Parquet folder per UTC date (``YYYY-MM-DD``) or per (sanitised) session id
    partition_by: Literal["date", "session_id"] = "date"
    #: Parquet compression codec
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    #: backend-specific extra settings (keys checked per built-in backend: ``BackendSpec.options``)
    options: dict[str, Any] = Field(default_factory=dict)
    #: MariaDB / MySQL: create the database named in the DSN when it does not exist (otherwise
    #: ``initialize`` refuses, so a typo is not silently created)
    create_database: bool = False

    @field_validator("output_dir")
    @classmethod
    def _non_empty_dir(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("storage.output_dir must name a folder; got an empty string")
        return value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from llamonitor.backends.registry import available_backends

        name = value.strip().lower()
        known = available_backends()
        if name not in known:
            allowed = ", ".join(repr(n) for n in known)
            raise ValueError(f"storage.backend must be one of {allowed}; got {value!r}")
        return name

    @field_validator("table_name", "schema_name")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from llamonitor.backends.identifiers import validate_identifier

        return validate_identifier(value)

    @model_validator(mode="after")
    def _needs_dsn(self) -> StorageConfig:
        from llamonitor.backends.registry import builtin_spec

        spec = builtin_spec(self.backend)
        if spec is not None and spec.needs_dsn and not self.connection_string:
            raise ValueError(f"storage.connection_string is required for backend {self.backend!r}")
        if self.max_batch_size < self.batch_size:
            raise ValueError("storage.max_batch_size must be >= storage.batch_size")
        known = spec.options if spec is not None else None
        if known is not None:  # a registered backend reads its own options
            for key in self.options:
                if key not in known:
                    raise ValueError(f"unknown storage.options key {key!r} for backend {self.backend!r}"
                                     f"{did_you_mean(str(key), known)} (known: {', '.join(sorted(known))})")
        return self

    def option_flag(self, name: str, default: bool) -> bool:
        """``options[name]`` as a boolean (``default`` when absent); anything else is refused by name."""
        value = self.options.get(name, default)
        if not isinstance(value, bool):
            raise ValueError(f"storage.options[{name!r}] must be true or false; got {value!r}")
        return value


class SamplingConfig(_Strict):
    """Head sampling (``MonitorConfig.sampling``): the share of traces recorded.

    Decided per trace from its id before the queue, as OpenTelemetry's ``TraceIdRatioBased``
    decides: a trace is kept or dropped whole, in every process. Every sink (storage and
    exporters) sees only kept traces; dropped events are counted in ``health()["sampled_out"]``.
    See ``docs/reliability.md#head-sampling``.
    """

    #: share of traces kept (``1.0``: all, no cost; ``0.1``: one in ten), read from the trace id
    ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    #: keep a failed call's event even when its trace is sampled out, and the spans of that
    #: trace ending after it in the same process (the callers around the failure)
    always_keep_errors: bool = True


OtelContextMode = Literal["auto", "always", "off"]


class MonitorConfig(_Strict):
    """Everything ``initialize_monitoring`` needs.

    ``MonitorConfig.for_local_dev()`` writes Parquet under ``./dev_monitoring_data`` (batches of
    100, flushed every second, a queue of 200,000 events so that bursts of calls never wait for the
    writer: about 60 MB of plain records at its fullest, and what a SIGKILL can lose);
    ``MonitorConfig.for_production(dsn)`` writes to PostgreSQL; ``MonitorConfig.from_env()``
    reads ``LLMOPS_*`` variables.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    #: where events go
    storage: StorageConfig = Field(default_factory=StorageConfig)
    #: ``False`` turns monitoring off (decorated functions run untouched)
    enabled: bool = True
    #: bound on events in memory: queued + being built + being written (what a SIGKILL can lose)
    max_queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    #: bound on the estimated bytes of kept args / results in memory (content capture,
    #: ``measure_text``, collectors): ``len()`` of str / bytes, 512 per other value; ``0``: none
    max_queue_bytes: int = Field(default=128 * 1024 * 1024, ge=0)
    #: what a caller does when the queue is full: wait (``block``), drop and count
    #: (``drop_newest``), or write the event to the spill directory (``spill``)
    overflow_policy: OverflowPolicy = "block"
    #: under policy ``block``, a caller waits while the writer makes progress; it is dropped (and
    #: counted) only once the writer made no progress (no take, build, write, retry) for this long
    block_timeout_seconds: float = Field(default=1.0, ge=0, le=600)
    #: attempts per batch and sink before it is spilled (first try included)
    max_retries: int = Field(default=4, ge=1, le=100)
    #: first retry delay; doubles per attempt
    retry_backoff_seconds: float = Field(default=0.2, ge=0, le=60)
    #: cap on the retry delay
    retry_max_backoff_seconds: float = Field(default=5.0, ge=0, le=600)
    #: longest one batch write may take; a sink that hangs (a silent network, a locked table)
    #: counts as failed, so the batch is retried / spilled instead of stalling the writer
    write_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: a failing sink is probed again after this long; until then its batches spill directly
    circuit_open_seconds: float = Field(default=5.0, ge=0, le=3600)
    #: where failed batches and overflowing events are written for replay
    spill_dir: str = "./.llamonitor_spill"
    #: re-send spilled batches automatically once a sink recovers
    auto_replay: bool = True
    #: longest ``shutdown`` waits to drain before spilling what is left
    shutdown_timeout_seconds: float = Field(default=10.0, ge=0, le=3600)
    #: on SIGTERM / SIGINT, write the queue first, then chain to the handler that was in place
    handle_sigterm: bool = True
    #: default text measurement of ``@monitor_llm(measure_text=True)`` (mode name, dict or model)
    measurement: MeasurementConfig = Field(default_factory=MeasurementConfig)
    #: record prompts and completions (off by default); see ``content_redactor``
    capture_content: bool = False
    #: captured prompt / response text is cut at this length
    max_content_chars: int = Field(default=10_000, ge=0, le=100_000_000)
    #: ``fn(text) -> text`` applied to captured content before it is stored
    content_redactor: Callable[[str], str] | None = None
    #: session of events recorded outside any ``monitoring_session``
    default_session_id: str = "default"
    #: name of the monitored service (exporters use it)
    service_name: str | None = None
    #: head sampling of traces (ratio, errors kept); default keeps everything
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    #: one trace with the application's OpenTelemetry spans: llamonitor spans join an active
    #: OpenTelemetry span and are the current OpenTelemetry span inside them. ``auto``: when
    #: ``opentelemetry-api`` is importable and a TracerProvider was set; ``always``: whenever the
    #: API is importable (propagated contexts without an SDK); ``off``: never. See
    #: ``docs/exporters/otlp.md#one-trace-with-the-application``
    otel_context: OtelContextMode = "auto"
    #: exporter settings by name: ``prometheus``, ``datadog``, ``websocket``, ``otlp``
    extensions: dict[str, Any] = Field(default_factory=dict)

    @field_validator("spill_dir")
    @classmethod
    def _non_empty_spill(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("spill_dir must name a folder; got an empty string")
        return value

    @field_validator("extensions")
    @classmethod
    def _known_extensions(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name not in KNOWN_EXTENSIONS:
                raise ValueError(f"unknown extension {name!r}{did_you_mean(str(name), KNOWN_EXTENSIONS)} "
                                 f"(known: {', '.join(KNOWN_EXTENSIONS)})")
        return value

    @field_validator("measurement", mode="before")
    @classmethod
    def _coerce_measurement(cls, value: Any) -> MeasurementConfig:
        return MeasurementConfig.coerce(value)

    @classmethod
    def for_local_dev(cls, output_dir: str = "./dev_monitoring_data") -> MonitorConfig:
        """Parquet under ``./dev_monitoring_data``, flushed every second, room for bursts of 100,000 calls.

        The queue holds up to 200,000 events (about 60 MB of plain records at its fullest) so
        that a burst of calls is recorded without waiting for the writer, which takes the burst
        once it ends (see docs/performance.md); a SIGKILL can lose what it holds.
        """
        return cls(storage=StorageConfig(backend="parquet", output_dir=output_dir, batch_size=100,
                                         flush_interval_seconds=1.0),
                   max_queue_size=200_000)

    @classmethod
    def for_production(cls, connection_string: str, *, backend: str = "postgres") -> MonitorConfig:
        """A server backend (PostgreSQL by default) with larger batches."""
        return cls(storage=StorageConfig(backend=backend, connection_string=connection_string,
                                         batch_size=500, flush_interval_seconds=5.0, pool_size=20),
                   max_queue_size=50_000)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> MonitorConfig:
        """Build a config from ``LLMOPS_*`` variables (``LLAMONITOR_*`` works too).

        Recognised: ``BACKEND``, ``CONNECTION_STRING``, ``OUTPUT_DIR``, ``TABLE_NAME``,
        ``SCHEMA_NAME``, ``BATCH_SIZE``, ``FLUSH_INTERVAL_SECONDS``, ``MAX_QUEUE_SIZE``,
        ``OVERFLOW_POLICY``, ``SPILL_DIR``, ``MEASUREMENT``, ``CAPTURE_CONTENT``, ``ENABLED``,
        ``SAMPLING_RATIO``, ``OTEL_CONTEXT``.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            for prefix in ("LLMOPS_", "LLAMONITOR_"):
                if (prefix + name) in env:
                    return env[prefix + name]
            return None

        def number(name: str, kind: type[int] | type[float]) -> int | float | None:
            raw = get(name)
            if raw is None:
                return None
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"LLMOPS_{name} must be {'an integer' if kind is int else 'a number'}; "
                                 f"got {raw!r}") from None

        def flag(name: str) -> bool | None:
            raw = get(name)
            if raw is None:
                return None
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"LLMOPS_{name} must be true or false; got {raw!r}")

        storage: dict[str, Any] = {}
        for key, value in (("backend", get("BACKEND")), ("connection_string", get("CONNECTION_STRING")),
                           ("output_dir", get("OUTPUT_DIR")), ("table_name", get("TABLE_NAME")),
                           ("schema_name", get("SCHEMA_NAME")), ("batch_size", number("BATCH_SIZE", int)),
                           ("flush_interval_seconds", number("FLUSH_INTERVAL_SECONDS", float))):
            if value is not None:
                storage[key] = value
        top: dict[str, Any] = {"storage": StorageConfig(**storage)}
        for key, value in (("max_queue_size", number("MAX_QUEUE_SIZE", int)),
                           ("overflow_policy", get("OVERFLOW_POLICY")), ("spill_dir", get("SPILL_DIR")),
                           ("measurement", get("MEASUREMENT")), ("capture_content", flag("CAPTURE_CONTENT")),
                           ("enabled", flag("ENABLED")), ("otel_context", get("OTEL_CONTEXT"))):
            if value is not None:
                top[key] = value
        ratio = number("SAMPLING_RATIO", float)
        if ratio is not None:
            top["sampling"] = SamplingConfig(ratio=ratio)
        return cls(**top)

    def check_before_start(self) -> None:
        """Checks ``initialize_monitoring`` runs before anything starts (they do I/O).

        Every folder llamonitor writes to must be writable: ``ValueError`` naming the field when
        a folder is read-only or a regular file stands in its way. Not a model validator on
        purpose: building a config does no I/O. Extension names and storage options are checked
        again here, since a dict mutated in place after construction escapes pydantic.
        """
        self._known_extensions(self.extensions)
        StorageConfig.model_validate(self.storage.model_dump())
        from llamonitor.backends.registry import builtin_spec

        paths = [("spill_dir", self.spill_dir)]
        spec = builtin_spec(self.storage.backend)
        if spec is not None and spec.files:
            paths.append(("storage.output_dir", self.storage.output_dir))
        for field, raw in paths:
            check_writable_dir(field, raw)

    @property
    def spill_path(self) -> Path:
        """The spill directory as a path."""
        return Path(self.spill_dir)

    # -- seed fields (llmops_monitoring); see docs/seed-compatibility.md -------------------------
    #: seed field; llamonitor never raises into user code (``False`` warns once, no effect)
    fail_silently: bool = True
    #: seed field; ``initialize_monitoring`` always starts the writer (``False`` warns once)
    auto_start: bool = True
    #: seed field; one writer thread and one build thread (other values warn once, no effect)
    worker_threads: int = Field(default=1, ge=1)
    #: seed field; ``False`` means ``max_retries=1`` (spill after the first failure) unless set
    retry_failed_writes: bool = True

    @model_validator(mode="after")
    def _seed_fields(self) -> MonitorConfig:
        if not self.retry_failed_writes and "max_retries" not in self.model_fields_set:
            object.__setattr__(self, "max_retries", 1)  # not re-validated: 1 is in range
        if not self.fail_silently:
            seed_field_deprecated("MonitorConfig.fail_silently=False", "llamonitor never raises into user "
                                  "code; failures are logged once and counted in health()")
        if not self.auto_start:
            seed_field_deprecated("MonitorConfig.auto_start=False", "use MonitorConfig(enabled=False), or "
                                  "call initialize_monitoring() when monitoring should start")
        if self.worker_threads != 1:
            seed_field_deprecated("MonitorConfig.worker_threads", "llamonitor runs one writer thread and one "
                                  "build thread; tune storage.batch_size / storage.max_batch_size")
        return self


_warned_seed_fields: set[str] = set()


def seed_field_deprecated(what: str, replacement: str) -> None:
    """Warn once per process that a seed config field has no effect, naming what replaces it."""
    if what in _warned_seed_fields:
        return
    _warned_seed_fields.add(what)
    import warnings

    warnings.warn(f"{what} is a llmops_monitoring setting without effect in llamonitor: {replacement}",
                  DeprecationWarning, stacklevel=4)


class UnwritablePathError(ValueError, OSError):
    """A configured folder cannot be written (a ``ValueError`` and, as before, an ``OSError``)."""


def check_writable_dir(field: str, raw: str) -> None:
    """``raw`` is (or is created as) a folder this process can write a file in; else ``ValueError``.

    Probes by writing: permission bits lie for root and on read-only mounts.
    """
    import tempfile

    path = Path(raw).expanduser()
    for probe in (path, *path.parents):
        if probe.exists():
            if not probe.is_dir():
                raise UnwritablePathError(f"{field}={raw!r}: {str(probe)!r} is a file, not a folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UnwritablePathError(f"{field}={raw!r}: cannot write in this folder ({exc.strerror or exc})") from None


class PrometheusConfig(_Strict):
    """Prometheus exporter settings (``config.extensions["prometheus"]``).

    Serves ``/metrics`` from its own registry (never the global one) on ``host``:``port``.
    Metric names are the seed's (``llm_operations_total``, ``llm_errors_total``,
    ``llm_operation_duration_seconds``, ``llm_text_characters_total``, ``llm_cost_usd``,
    ``llm_queue_size``, ``llm_buffer_size``) plus ``llm_tokens_total``; see
    ``docs/exporters/prometheus.md``.
    """

    #: ``False`` leaves the exporter off
    enabled: bool = True
    #: port of the ``/metrics`` endpoint; ``0`` picks a free port (read it from ``exporter.port``)
    port: int = Field(default=8000, ge=0, le=65535)
    #: interface to bind; loopback by default, ``"0.0.0.0"`` (or ``"::"``) to expose it
    host: str = "127.0.0.1"
    #: prefix of every metric name (``"myapp"`` gives ``myapp_llm_operations_total``)
    namespace: str = Field(default="", pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$")
    #: distinct values kept per label; later ones are reported as ``"other"`` (and counted)
    max_label_values: int = Field(default=1000, ge=1)
    #: folder where every process of a multi-process app publishes its counts, merged into the
    #: one ``/metrics`` the serving process answers (gunicorn / Celery workers; see
    #: ``docs/exporters/prometheus.md``); forked workers get a temporary one by themselves
    shared_dir: str | None = None
    #: upper bounds (seconds) of the ``llm_operation_duration_seconds`` histogram buckets
    duration_buckets: list[float] = Field(default_factory=lambda: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0])
    #: upper bounds (US dollars) of the ``llm_cost_usd`` histogram buckets
    cost_buckets: list[float] = Field(default_factory=lambda: [
        0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])

    @field_validator("duration_buckets", "cost_buckets")
    @classmethod
    def _sorted_buckets(cls, value: list[float]) -> list[float]:
        if not value or any(b <= a for a, b in pairwise(value)):
            raise ValueError("buckets must be a non-empty, strictly increasing list of numbers")
        return value

    #: seed field; the endpoint is always ``/metrics`` (other values warn once)
    path: str = "/metrics"
    #: seed field; labels are fixed (operation_name, model, operation_type, ...) and their values
    #: bounded by ``max_label_values`` (other lists warn once)
    include_labels: list[str] = Field(default_factory=lambda: ["operation_name", "model", "operation_type"])

    @model_validator(mode="after")
    def _seed_fields(self) -> PrometheusConfig:
        if self.path != "/metrics":
            seed_field_deprecated("PrometheusConfig.path", "the exporter serves /metrics on host:port")
        if self.include_labels != ["operation_name", "model", "operation_type"]:
            seed_field_deprecated("PrometheusConfig.include_labels", "labels are fixed; bound their "
                                  "values with max_label_values")
        return self


class DatadogConfig(_Strict):
    """Datadog exporter settings (``config.extensions["datadog"]``).

    ``use_statsd=True`` sends DogStatsD datagrams to ``statsd_host``:``statsd_port``;
    otherwise metrics go to the HTTP API of ``site`` with ``api_key`` (or the ``DD_API_KEY``
    environment variable). Counts are aggregated and sent every ``submission_interval``
    seconds from the exporter's own thread; see ``docs/exporters/datadog.md``.
    """

    #: ``False`` leaves the exporter off
    enabled: bool = True
    #: API key for the HTTP API (falls back to ``DD_API_KEY``); never logged
    api_key: SecretStr | None = None
    #: application key (not needed to submit metrics; accepted for the seed's examples)
    app_key: SecretStr | None = None
    #: Datadog site: the API is ``https://api.{site}``
    site: str = "datadoghq.com"
    #: base URL of the HTTP API, overriding ``site`` (a proxy, or a test server)
    api_url: str | None = None
    #: prefix of every metric name (``llmops.operations.count``)
    namespace: str = Field(default="llmops", pattern=r"^[a-zA-Z][a-zA-Z0-9_.]*$")
    #: send DogStatsD over UDP to the agent instead of calling the HTTP API
    use_statsd: bool = False
    #: DogStatsD agent host
    statsd_host: str = "localhost"
    #: DogStatsD agent port
    statsd_port: int = Field(default=8125, ge=1, le=65535)
    #: largest UDP datagram sent to the agent (lines are packed up to this size)
    statsd_max_packet_bytes: int = Field(default=1432, ge=512, le=65000)
    #: seconds between flushes; counts are aggregated in between
    submission_interval: float = Field(default=10.0, gt=0)
    #: HTTP request time-out in seconds
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    #: tags added to every metric (``"env:prod"``)
    tags: list[str] = Field(default_factory=list)
    #: distinct values kept per tag; later ones are reported as ``"other"`` (and counted)
    max_tag_values: int = Field(default=1000, ge=1)
    #: latency samples kept per tag set and flush (a uniform sample beyond; statsd sends the rate)
    max_samples_per_flush: int = Field(default=10_000, ge=1)


class WebSocketConfig(_Strict):
    """Live WebSocket feed settings (``config.extensions["websocket"]``)."""

    enabled: bool = True
    max_connections: int = Field(default=100, ge=1)
    queue_size_per_client: int = Field(default=1000, ge=1)
    #: seed field; the API server's feed is always ``/api/v1/stream`` (other values warn once)
    path: str = "/api/v1/stream"

    @model_validator(mode="after")
    def _seed_fields(self) -> WebSocketConfig:
        if self.path != "/api/v1/stream":
            seed_field_deprecated("WebSocketConfig.path", "the API server streams on /api/v1/stream "
                                  "(and /api/v1/stream/sessions/{id})")
        return self


class APIConfig(_Strict):
    """Query API / dashboard server settings (``config.extensions["api"]``; see ``docs/api.md``).

    Arguments of ``create_api_server`` / ``run_api_server`` win over these fields; the token
    also comes from ``LLAMONITOR_API_TOKEN`` when neither sets it.
    """

    #: interface to bind (loopback only unless told otherwise)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: bearer token guarding every route, WebSocket and GraphQL (``None``: no auth)
    token: str | None = None
    #: origins allowed by CORS (empty: CORS off)
    cors_origins: list[str] = Field(default_factory=list)
    #: Host headers answered (``*.example.com`` wildcards; empty: the loopback names and the bound host)
    allowed_hosts: list[str] = Field(default_factory=list)
    #: most events loaded for the agent analytics routes
    max_analysis_events: int = Field(default=50_000, ge=1)


class OTLPConfig(_Strict):
    """OpenTelemetry OTLP/HTTP span export (``config.extensions["otlp"]``).

    Every event becomes a span (protobuf over HTTP) with GenAI semantic-convention attributes,
    sent from the exporter's own thread; see ``docs/exporters/otlp.md``.
    """

    #: ``False`` leaves the exporter off
    enabled: bool = True
    #: OTLP/HTTP traces endpoint (full URL, usually ending in ``/v1/traces``)
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    #: extra HTTP headers (authentication of a hosted backend); values are never logged
    headers: dict[str, str] = Field(default_factory=dict)
    #: ``service.name`` of the resource (``MonitorConfig.service_name`` wins when set)
    service_name: str = "llamonitor"
    #: HTTP request time-out in seconds
    timeout_seconds: float = Field(default=10.0, gt=0)
    #: gzip request bodies
    compression: Literal["none", "gzip"] = "none"
    #: spans per export request at most
    max_spans_per_request: int = Field(default=512, ge=1, le=100_000)
    #: export requests waiting for the sender; beyond, spans are dropped (and counted)
    max_pending_requests: int = Field(default=64, ge=1, le=100_000)
    #: extra resource attributes (``deployment.environment``...)
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    #: tries per export request on 429 / 502 / 503 / 504 or a lost connection (first try included)
    max_export_attempts: int = Field(default=5, ge=1, le=100)
    #: first retry delay (seconds); doubles per try, full jitter, ``Retry-After`` honoured
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    #: cap on one retry delay (seconds)
    retry_max_backoff_seconds: float = Field(default=8.0, ge=0, le=600)
    #: also send OpenInference's ``openinference.span.kind`` (LLM, TOOL, AGENT, CHAIN...)
    openinference: bool = False

"""llamonitor: async-first, low-overhead monitoring for LLM applications.

Quick start::

    from llamonitor import monitor_llm, initialize_monitoring, MonitorConfig

    @monitor_llm(operation_name="generate_text", measure_text=True)
    async def generate(prompt: str) -> str: ...

    await initialize_monitoring(MonitorConfig.for_local_dev())
"""

from __future__ import annotations

import logging as _logging

from llamonitor.context import (
    get_current_agent,
    get_current_session_id,
    get_current_span_id,
    get_current_trace_id,
    monitoring_agent,
    monitoring_session,
    monitoring_trace,
    run_in_executor_with_context,
    wrap_with_context,
)
from llamonitor.instrumentation.base import CollectorRegistry, MetricCollector
from llamonitor.instrumentation.decorators import monitor_llm
from llamonitor.measurement.config import MeasurementConfig
from llamonitor.runtime import (
    flush_monitoring,
    flush_sync,
    get_writer,
    health,
    initialize_monitoring,
    initialize_monitoring_sync,
    is_initialized,
    shutdown_monitoring,
    shutdown_sync,
)
from llamonitor.schema.config import (
    DatadogConfig,
    MonitorConfig,
    OTLPConfig,
    PrometheusConfig,
    SamplingConfig,
    StorageConfig,
    WebSocketConfig,
)
from llamonitor.schema.events import (
    SCHEMA_VERSION,
    AgentIdentity,
    CostInfo,
    ImageMetrics,
    MetricEvent,
    TextMetrics,
    TokenUsage,
)

__version__ = "0.1.0"

from llamonitor import _arrow_hook

_arrow_hook.install()  # pandas reads custom_attributes as dicts (registered when pyarrow loads)

# A library never configures logging; this keeps "No handlers could be found" away (logger tree llamonitor.*).
_logging.getLogger("llamonitor").addHandler(_logging.NullHandler())

__all__ = [
    "SCHEMA_VERSION",
    "AgentIdentity",
    "CollectorRegistry",
    "CostInfo",
    "DatadogConfig",
    "ImageMetrics",
    "MeasurementConfig",
    "MetricCollector",
    "MetricEvent",
    "MonitorConfig",
    "OTLPConfig",
    "PrometheusConfig",
    "SamplingConfig",
    "StorageConfig",
    "TextMetrics",
    "TokenUsage",
    "WebSocketConfig",
    "__version__",
    "flush_monitoring",
    "flush_sync",
    "get_current_agent",
    "get_current_session_id",
    "get_current_span_id",
    "get_current_trace_id",
    "get_writer",
    "health",
    "initialize_monitoring",
    "initialize_monitoring_sync",
    "is_initialized",
    "monitor_llm",
    "monitoring_agent",
    "monitoring_session",
    "monitoring_trace",
    "run_in_executor_with_context",
    "shutdown_monitoring",
    "shutdown_sync",
    "wrap_with_context",
]

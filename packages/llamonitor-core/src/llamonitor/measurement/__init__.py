"""Text measurement: capacity, token, hybrid and auto strategies.

See ``docs/measurement.md``. The public API::

    from llamonitor.measurement import MeasurementConfig, Measurer, measure_text, count_tokens

Importing this package does not import tiktoken; encodings load lazily, offline, on first use.
"""

from __future__ import annotations

from llamonitor.measurement.config import MODES, MeasurementConfig, MeasurementMode
from llamonitor.measurement.extract import (
    ExtractedText,
    extract_input_text,
    extract_input_text_info,
    extract_text,
    extract_text_info,
)
from llamonitor.measurement.offline import OfflineStatus, ensure_offline_encodings
from llamonitor.measurement.strategies import (
    MeasurementMetadata,
    MeasurementResult,
    MeasurementType,
    Measurer,
    Reliability,
    capacity_counts,
    measure_text,
)
from llamonitor.measurement.tokenizers import (
    ESTIMATE_TOKENIZER,
    TokenCount,
    count_tokens,
    encoding_name_for_model,
    estimate_tokens,
    normalize_model,
    preload,
)

__all__ = [
    "ESTIMATE_TOKENIZER",
    "MODES",
    "ExtractedText",
    "MeasurementConfig",
    "MeasurementMetadata",
    "MeasurementMode",
    "MeasurementResult",
    "MeasurementType",
    "Measurer",
    "OfflineStatus",
    "Reliability",
    "TokenCount",
    "capacity_counts",
    "count_tokens",
    "encoding_name_for_model",
    "ensure_offline_encodings",
    "estimate_tokens",
    "extract_input_text",
    "extract_input_text_info",
    "extract_text",
    "extract_text_info",
    "measure_text",
    "normalize_model",
    "preload",
]

"""OTLP ingestion: ``POST /v1/traces`` (and optionally OTLP/gRPC) turned into llamonitor events.

* :mod:`llamonitor.ingest.decode` reads OTLP/HTTP bodies (protobuf or JSON, optionally gzip)
  into :class:`~llamonitor.ingest.decode.OtlpSpan` objects;
* :mod:`llamonitor.ingest.mapping` maps the GenAI semantic-convention, OpenInference and
  OpenLLMetry attribute families to event fields (one table per field);
* :mod:`llamonitor.ingest.receiver` is the ASGI receiver ``llamonitor serve`` mounts, which
  feeds the records to the same writer every other producer uses;
* :mod:`llamonitor.ingest.grpc_receiver` serves OTLP/gRPC when ``grpcio`` is installed.

See ``docs/ingest.md``.
"""

from llamonitor.ingest.decode import DecodeError, OtlpSpan, decode_body
from llamonitor.ingest.mapping import IngestResult, map_spans

__all__ = ["DecodeError", "IngestResult", "OtlpSpan", "decode_body", "map_spans"]

"""``llamonitor serve``: the query API, live streams, GraphQL and the dashboard over stored events.

Storage comes from ``LLMOPS_*`` variables, with ``--backend`` / ``--dir`` / ``--connection-string``
taking precedence. A server started this way reads storage only: live streams carry events
recorded by a writer in the same process (``run_api_server`` inside the application), which
includes spans received over OTLP (``POST /v1/traces``, OTLP/gRPC on 4317; see docs/ingest.md):
the first one starts a writer on the same storage.
"""

from __future__ import annotations

import argparse
import os
import sys

from llamonitor.schema.config import MonitorConfig

#: the CLI's Parquet folder when neither ``--dir`` nor ``LLMOPS_OUTPUT_DIR`` says
DEFAULT_DIR = "./llamonitor_data"


def serve_config(args: argparse.Namespace) -> MonitorConfig:
    """``MonitorConfig.from_env()`` with the command-line storage options taking precedence."""
    environ = dict(os.environ)
    if args.backend is not None:
        environ["LLMOPS_BACKEND"] = args.backend
    if args.dir is not None:
        environ["LLMOPS_OUTPUT_DIR"] = args.dir
    elif "LLMOPS_OUTPUT_DIR" not in environ:
        # the folder `llamonitor demo` / `report` / `analyze` use, so `demo` then `serve` just works
        environ["LLMOPS_OUTPUT_DIR"] = DEFAULT_DIR
    if args.connection_string is not None:
        environ["LLMOPS_CONNECTION_STRING"] = args.connection_string
    if getattr(args, "table", None) is not None:
        environ["LLMOPS_TABLE_NAME"] = args.table
    if getattr(args, "schema", None) is not None:
        environ["LLMOPS_SCHEMA_NAME"] = args.schema
    return MonitorConfig.from_env(environ)


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """Storage options read by :func:`serve_config`: --dir, --backend, --connection-string, --table, --schema."""
    parser.add_argument("--dir", default=None, help=f"Parquet folder (default: LLMOPS_OUTPUT_DIR or {DEFAULT_DIR})")
    parser.add_argument("--backend", default=None, help="storage backend (default: LLMOPS_BACKEND or parquet)")
    parser.add_argument("--connection-string", default=None,
                        help="server backend DSN (default: LLMOPS_CONNECTION_STRING)")
    parser.add_argument("--table", default=None,
                        help="table of a SQL backend (default: LLMOPS_TABLE_NAME or metric_events)")
    parser.add_argument("--schema", default=None,
                        help="PostgreSQL schema / ClickHouse database (default: LLMOPS_SCHEMA_NAME or the DSN's)")


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``serve`` sub-command."""
    serve = sub.add_parser(
        "serve", help="serve the REST / WebSocket / GraphQL API and the web dashboard",
        description="Serve the query API (/api/v1/..., /docs), GraphQL (/graphql) and the dashboard (/) over "
                    "the stored events. Binds 127.0.0.1 unless --host says otherwise. A bearer token "
                    "(--token or LLAMONITOR_API_TOKEN) then guards every route.")
    add_storage_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--token", default=None, help="bearer token (default: LLAMONITOR_API_TOKEN; none: no auth)")
    serve.add_argument("--cors-origin", action="append", default=None, dest="cors_origins",
                       help="allow this origin through CORS (repeatable; default: CORS off)")
    # OTLP ingestion (llamonitor.ingest, docs/ingest.md)
    serve.add_argument("--no-ingest", action="store_false", dest="ingest",
                       help="do not accept OTLP spans on POST /v1/traces (default: accept them)")
    serve.add_argument("--otlp-grpc-port", type=int, default=4317,
                       help="OTLP/gRPC receiver port when grpcio is installed (default 4317; 0: off)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    try:
        config = serve_config(args)
        from llamonitor.api import run_api_server
    except (ImportError, ValueError) as exc:
        print(f"llamonitor serve: {exc}", file=sys.stderr)
        return 2
    print(f"llamonitor serve: http://{args.host}:{args.port}/ (docs at /docs, GraphQL at /graphql)", flush=True)
    ingest = getattr(args, "ingest", True)
    grpc_port = getattr(args, "otlp_grpc_port", 0) or None
    run_api_server(config, host=args.host, port=args.port, token=args.token, cors_origins=args.cors_origins,
                   ingest=ingest, ingest_grpc_port=grpc_port if ingest else None, ingest_grpc_host=args.host)
    return 0

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

from llamonitor.backends.registry import is_file_backend
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
    serve.add_argument("--port", type=port_number, default=8080, help="port, 0-65535 (default 8080; 0: any free)")
    serve.add_argument("--token", default=None, help="bearer token (default: LLAMONITOR_API_TOKEN; none: no auth)")
    serve.add_argument("--allowed-host", action="append", default=None, dest="allowed_hosts",
                       help="answer requests for this Host name (repeatable; default: 127.0.0.1, localhost, ::1 "
                            "and --host; others get 400, against DNS rebinding)")
    serve.add_argument("--cors-origin", action="append", default=None, dest="cors_origins",
                       help="allow this origin through CORS (repeatable; default: CORS off)")
    serve.add_argument("--workers", type=worker_count, default=1,
                       help="worker processes sharing the port, each with its own caches, live feed and "
                            "ingestion writer (default 1; see docs/api.md, Caching and load)")
    # OTLP ingestion (llamonitor.ingest, docs/ingest.md)
    serve.add_argument("--no-ingest", action="store_false", dest="ingest",
                       help="do not accept OTLP spans on POST /v1/traces (default: accept them)")
    serve.add_argument("--otlp-grpc-port", type=int, default=4317,
                       help="OTLP/gRPC receiver port when grpcio is installed (default 4317; 0: off)")


def port_number(value: str) -> int:
    """An ``argparse`` type: a TCP port, 0-65535."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {port}")
    return port


#: most worker processes ``--workers`` accepts (each holds its own caches: memory grows with the count)
MAX_WORKERS = 64


def worker_count(value: str) -> int:
    """An ``argparse`` type: a number of worker processes, 1-64."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes 1-{MAX_WORKERS}, "
                                         f"got {value!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes 1-{MAX_WORKERS}, got {count}")
    return count


#: configuration fields and the options that set them, for error messages
_OPTION_OF = {"backend": "--backend", "output_dir": "--dir", "connection_string": "--connection-string",
              "table_name": "--table", "schema_name": "--schema"}


def storage_config_error(exc: ValueError) -> str:
    """A pydantic ``ValidationError`` (or a plain ``ValueError``) as one line naming the options."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        field = next((str(p) for p in reversed(err.get("loc", ())) if str(p) in _OPTION_OF), "")
        name = _OPTION_OF.get(field, ".".join(str(p) for p in err.get("loc", ())))
        given = err.get("input")
        parts.append(f"{name} {given!r}: {err.get('msg', 'invalid')}" if isinstance(given, str)
                     else f"{name}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted (exit 2: bad options; 1: the port cannot be bound)."""
    def fail(message: str, code: int = 2) -> int:
        print(f"llamonitor serve: {message}", file=sys.stderr)
        return code

    try:
        config = serve_config(args)
    except ValueError as exc:  # pydantic's ValidationError included: its messages, not a traceback
        return fail(f"invalid storage configuration: {storage_config_error(exc)}")
    workers = getattr(args, "workers", 1)
    storage = config.storage
    if is_file_backend(storage.backend) and not os.path.isdir(storage.output_dir):
        where = "--dir" if args.dir is not None else "the Parquet folder"
        parent = os.path.dirname(os.path.abspath(storage.output_dir))
        if not getattr(args, "ingest", True) or not os.path.isdir(parent):
            return fail(f"{where} {storage.output_dir}: no such folder. Run `llamonitor demo --dir "
                        f"{storage.output_dir}`, or pass --dir with the output_dir your application writes to.")
        # ingestion will create it: say so rather than serve zeros silently
        print(f"llamonitor serve: {where} {storage.output_dir} does not exist yet: no events until traces are "
              "ingested into it", file=sys.stderr, flush=True)
    try:
        from llamonitor.api import run_api_server
        from llamonitor.api.server import BindError
    except ImportError as exc:
        return fail(str(exc))

    def banner(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(f"llamonitor serve: http://{shown}:{port}/ (docs at /docs, GraphQL at /graphql)", flush=True)

    ingest = getattr(args, "ingest", True)
    grpc_port = getattr(args, "otlp_grpc_port", 0) or None
    try:
        run_api_server(config, host=args.host, port=args.port, token=args.token, cors_origins=args.cors_origins,
                       allowed_hosts=args.allowed_hosts, on_bound=banner, ingest=ingest, workers=workers,
                       own_process=True,
                       ingest_grpc_port=grpc_port if ingest else None, ingest_grpc_host=args.host)
    except BindError as exc:
        return fail(str(exc), 1)
    return 0

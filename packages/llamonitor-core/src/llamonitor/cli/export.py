"""``llamonitor export``: stored events to JSON Lines, CSV or Parquet, through the query layer.

Storage comes from ``LLMOPS_*`` variables, with ``--backend`` / ``--dir`` / ``--connection-string``
taking precedence (as for ``llamonitor serve``). Events are read page by page with
:meth:`QueryBackend.events <llamonitor.query.types.QueryBackend.events>` and the cursor, in the
query layer's order ``(start_time, event_id)``, and written page by page: memory stays bounded by
one page whatever the size of the export.

- ``jsonl``: one :meth:`MetricEvent.to_dict <llamonitor.schema.events.MetricEvent.to_dict>` object
  per line (``llamonitor.schema.serialize.event_from_dict`` reads a line back into the same event);
- ``csv``: the flat column layout of the server backends
  (:data:`llamonitor.backends.sql_common.COLUMN_NAMES`, ``custom_attributes`` as JSON text, times
  as integer Unix-epoch nanoseconds) plus ISO-8601 ``start_time`` / ``end_time`` columns;
- ``parquet``: the one Arrow schema of the Parquet backend
  (:data:`llamonitor.schema.arrow.EVENT_SCHEMA`), one row group per page.

A file is written under a temporary name next to it and renamed into place once complete, so a
failed export never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from llamonitor.cli.serve import add_storage_options

if TYPE_CHECKING:
    from llamonitor.query.types import EventFilter, QueryBackend
    from llamonitor.schema.config import StorageConfig
    from llamonitor.schema.events import MetricEvent

FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
#: file suffix -> format (anything else is ``jsonl``)
SUFFIX_FORMATS: dict[str, str] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet",
                                  ".pq": "parquet"}
#: the extra CSV columns after :data:`~llamonitor.backends.sql_common.COLUMN_NAMES`
CSV_TIME_COLUMNS: tuple[str, ...] = ("start_time", "end_time")
STDOUT = "-"


class ExportUsageError(ValueError):
    """A combination of options that cannot work (the message names the option)."""


def parse_time(value: str) -> datetime:
    """An ISO-8601 date or date-time (``Z`` accepted; naive = UTC) as an aware datetime."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or date-time: {value!r} (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {number}")
    return number


def resolve_format(output: str, fmt: str | None) -> str:
    """The format to write: ``fmt`` if given, else from the suffix of ``output``, else ``jsonl``.

    ``ExportUsageError`` for an unknown format or Parquet to standard output.
    """
    if fmt is None:
        fmt = "jsonl" if output == STDOUT else SUFFIX_FORMATS.get(Path(output).suffix.lower(), "jsonl")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportUsageError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "parquet" and output == STDOUT:
        raise ExportUsageError("--format parquet needs a file: pass -o/--output PATH (Parquet cannot go to stdout)")
    return fmt


# -- writers ------------------------------------------------------------------------------------------
class _Writer:
    """Writes pages of events to one destination; ``close()`` finishes it."""

    def write(self, events: list[MetricEvent]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush what is buffered (the destination itself is closed by its owner)."""


class _JsonlWriter(_Writer):
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, events: list[MetricEvent]) -> None:
        self.out.write("".join(json.dumps(e.to_dict(), ensure_ascii=False, default=str) + "\n" for e in events))


class _CsvWriter(_Writer):
    def __init__(self, out: IO[str]) -> None:
        import csv

        from llamonitor.schema.columns import COLUMN_NAMES, event_to_row

        self.to_row = event_to_row
        self.csv = csv.writer(out, lineterminator="\n")
        self.csv.writerow((*COLUMN_NAMES, *CSV_TIME_COLUMNS))

    def write(self, events: list[MetricEvent]) -> None:
        to_row = self.to_row
        self.csv.writerows((*to_row(e), e.start_time.isoformat(), e.end_time.isoformat()) for e in events)


class _ParquetWriter(_Writer):
    def __init__(self, path: str, compression: str) -> None:
        import pyarrow.parquet as pq

        from llamonitor.schema.arrow import EVENT_SCHEMA
        from llamonitor.schema.columnar import events_to_table

        self.to_table = events_to_table
        self.writer = pq.ParquetWriter(path, EVENT_SCHEMA, compression=None if compression == "none" else compression)

    def write(self, events: list[MetricEvent]) -> None:
        self.writer.write_table(self.to_table(events))

    def close(self) -> None:
        self.writer.close()


# -- the export ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_events` wrote."""

    events: int
    format: str
    #: the file written, or ``"-"`` for standard output
    output: str


async def _pump(backend: QueryBackend, filter: EventFilter | None, write: Callable[[list[MetricEvent]], None], *,
                limit: int | None, page_size: int) -> int:
    from llamonitor.query.types import MAX_PAGE

    page_size = max(1, min(page_size, MAX_PAGE))
    written = 0
    cursor: str | None = None
    while limit is None or written < limit:
        want = page_size if limit is None else min(page_size, limit - written)
        page = await backend.events(filter, limit=want, cursor=cursor)
        if page.events:
            write(page.events)
            written += len(page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return written


def _text_stdout() -> tuple[IO[str], Callable[[], None]]:
    """Standard output as a UTF-8 text stream (whatever the locale) and how to release it."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by a plain text stream (an embedding application)
        return sys.stdout, sys.stdout.flush
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", newline="")

    def release() -> None:
        wrapper.flush()
        wrapper.detach()

    return wrapper, release


async def export_events(storage: StorageConfig, output: str = STDOUT, *, fmt: str | None = None,
                        filter: EventFilter | None = None, limit: int | None = None,
                        page_size: int | None = None) -> ExportResult:
    """Write the events ``storage`` holds (those ``filter`` selects, at most ``limit``) to ``output``.

    ``output`` is a file path or ``"-"`` (standard output; not for Parquet). ``fmt`` defaults to
    the suffix of ``output`` (``.jsonl`` / ``.ndjson``, ``.csv``, ``.parquet`` / ``.pq``), else
    ``jsonl``. Events are read ``page_size`` at a time (default and cap: ``MAX_PAGE``).
    """
    from llamonitor.query import create_query_backend
    from llamonitor.query.types import MAX_PAGE

    fmt = resolve_format(output, fmt)
    backend = create_query_backend(storage)
    try:
        size = page_size or MAX_PAGE
        if output == STDOUT:
            out, release = _text_stdout()
            try:
                writer: _Writer = _JsonlWriter(out) if fmt == "jsonl" else _CsvWriter(out)
                count = await _pump(backend, filter, writer.write, limit=limit, page_size=size)
                writer.close()
            finally:
                release()
            return ExportResult(count, fmt, STDOUT)
        final = Path(output)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            if fmt == "parquet":
                pw = _ParquetWriter(str(tmp), storage.compression)
                try:
                    count = await _pump(backend, filter, pw.write, limit=limit, page_size=size)
                finally:
                    pw.close()
            else:
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    writer = _JsonlWriter(fh) if fmt == "jsonl" else _CsvWriter(fh)
                    count = await _pump(backend, filter, writer.write, limit=limit, page_size=size)
                    writer.close()
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ExportResult(count, fmt, str(final))
    finally:
        await backend.close()


# -- the command ---------------------------------------------------------------------------------------
def add_export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``export`` sub-command."""
    export = sub.add_parser(
        "export", help="write stored events to JSON Lines, CSV or Parquet (a file or stdout)",
        description="Read events from the configured storage (LLMOPS_* variables, or --backend / --dir / "
                    "--connection-string) through the query layer, page by page in (start_time, event_id) "
                    "order, and write them to --output (default stdout). A one-line summary goes to stderr.")
    export.add_argument("-o", "--output", default=STDOUT,
                        help="file to write, or - for stdout (default -); written atomically")
    export.add_argument("--format", default=None, type=str.lower, choices=FORMATS,
                        help="jsonl, csv or parquet (default: from the --output suffix, else jsonl; "
                             "parquet needs a file)")
    add_storage_options(export)
    export.add_argument("--session", default=None, help="only this session id")
    export.add_argument("--trace", default=None, help="only this trace id")
    export.add_argument("--operation", default=None, help="only this operation name")
    export.add_argument("--model", default=None, help="only this model")
    export.add_argument("--agent", default=None, help="only this agent name (agent.agent_name)")
    export.add_argument("--errors-only", action="store_true", help="only events with error = true")
    export.add_argument("--since", type=parse_time, default=None,
                        help="events starting at or after this ISO-8601 time (naive = UTC)")
    export.add_argument("--until", type=parse_time, default=None,
                        help="events starting before this ISO-8601 time (exclusive; naive = UTC)")
    export.add_argument("--limit", type=_positive, default=None, help="write at most N events")


def _secrets(args: argparse.Namespace) -> list[str]:
    found = [args.connection_string] if args.connection_string else []
    found += [os.environ[k] for k in ("LLMOPS_CONNECTION_STRING", "LLAMONITOR_CONNECTION_STRING") if os.environ.get(k)]
    return found


def _clean(message: str, secrets: Iterable[str]) -> str:
    from llamonitor.backends.dsn import mask_dsn, scrub

    for dsn in secrets:
        message = scrub(message, dsn)
    return mask_dsn(message)


def _source(storage: StorageConfig) -> str:
    from llamonitor.backends.registry import describe_storage

    return describe_storage(storage)


def _silence_stdout() -> None:
    # Later writes (the interpreter's final flush) would raise again on the closed pipe.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def cmd_export(args: argparse.Namespace) -> int:
    """``llamonitor export``: exit 0 when the export was written (also with 0 events)."""
    from llamonitor.backends.registry import BackendNotAvailableError
    from llamonitor.cli.serve import serve_config
    from llamonitor.query.types import EventFilter

    secrets = _secrets(args)

    def fail(message: str, code: int) -> int:
        print(f"llamonitor export: {_clean(message, secrets)}", file=sys.stderr)
        return code

    if args.since is not None and args.until is not None and args.since >= args.until:
        return fail(f"--since ({args.since.isoformat()}) must be before --until ({args.until.isoformat()})", 2)
    try:
        fmt = resolve_format(args.output, args.format)
    except ExportUsageError as exc:
        return fail(str(exc), 2)
    try:
        config = serve_config(args)
    except ValueError as exc:  # pydantic's ValidationError included: its messages, not the input
        errors = getattr(exc, "errors", None)
        detail = "; ".join(str(e.get("msg", e)) for e in errors()) if callable(errors) else str(exc)
        return fail(f"invalid storage configuration: {detail}", 2)
    storage = config.storage
    event_filter = EventFilter(start=args.since, end=args.until, session_id=args.session, trace_id=args.trace,
                               operation_name=args.operation, model=args.model, agent_name=args.agent,
                               errors_only=args.errors_only)
    try:
        result = asyncio.run(export_events(storage, args.output, fmt=fmt, filter=event_filter, limit=args.limit))
    except BrokenPipeError:  # `llamonitor export | head`: the reader left, nothing is wrong
        _silence_stdout()
        return 0
    except (ImportError, ValueError, BackendNotAvailableError) as exc:
        return fail(f"cannot read {_source(storage)}: {exc}", 2)
    except ConnectionError as exc:
        return fail(f"cannot read {_source(storage)}: {exc}", 1)
    except OSError as exc:
        return fail(f"cannot export from {_source(storage)} to {args.output}: {type(exc).__name__}: {exc}", 1)
    except Exception as exc:
        return fail(f"cannot read {_source(storage)}: {type(exc).__name__}: {exc}", 1)
    target = "stdout" if result.output == STDOUT else result.output
    print(f"llamonitor export: {result.events:,} events written to {target} ({result.format}) "
          f"from {_clean(_source(storage), secrets)}", file=sys.stderr)
    return 0

"""``llamonitor replay``: send spilled events to the configured storage backend."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape


def build_config(args: Any) -> Any:
    """``MonitorConfig.from_env()`` with ``--backend`` / ``--dir`` taking precedence over the env."""
    from llamonitor.schema.config import MonitorConfig

    environ = dict(os.environ)
    if args.backend is not None:
        environ["LLMOPS_BACKEND"] = args.backend
    if args.dir is not None:
        environ["LLMOPS_OUTPUT_DIR"] = args.dir
    return MonitorConfig.from_env(environ)


def cmd_replay(args: Any) -> int:
    """``llamonitor replay``: exit 0 when every spill file was replayed (or there was none)."""
    from pydantic import ValidationError

    from llamonitor.transport.replay import replay_spill

    err = Console(stderr=True)
    try:
        config = build_config(args)
    except (ValidationError, ValueError) as exc:
        err.print(f"[red]Invalid configuration:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    storage = config.storage
    target = storage.backend + (f" ({storage.output_dir})" if storage.backend == "parquet" else "")
    try:
        report = replay_spill(config, args.spill_dir)
    except Exception as exc:
        err.print(f"[red]Replay failed:[/] cannot use backend {escape(target)}: "
                  f"{type(exc).__name__}: {escape(str(exc))}",
                  highlight=False, soft_wrap=True)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return 0 if report.ok else 1
    out = Console()
    if report.files_found == 0:
        out.print(f"Nothing to replay in {report.spill_dir}.", highlight=False, soft_wrap=True)
        return 0
    out.print(f"Replayed {report.events_replayed:,} events from {report.files_replayed} of "
              f"{report.files_found} files in {report.spill_dir} to {target}.", highlight=False, soft_wrap=True)
    if report.files_skipped:
        out.print(f"{report.files_skipped} files were taken by another replay.", highlight=False, soft_wrap=True)
    for failure in report.failures:
        err.print(f"[red]failed:[/] {escape(failure.path)}: {escape(failure.error)}", highlight=False, soft_wrap=True)
    if report.failures:
        err.print(f"{len(report.failures)} files failed and were left in place; run replay again.",
                  highlight=False, soft_wrap=True)
    return 0 if report.ok else 1

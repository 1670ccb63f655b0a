"""``llamonitor replay``: send spilled events to the configured storage backend."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape


def build_config(args: Any) -> Any:
    """``MonitorConfig.from_env()`` with the storage options taking precedence (as for ``serve``)."""
    from llamonitor.cli.serve import serve_config

    return serve_config(args)


def cmd_replay(args: Any) -> int:
    """``llamonitor replay``: exit 0 when every spill file was replayed (or there was none)."""
    from pydantic import ValidationError

    from llamonitor.transport.replay import destination_of, replay_spill

    err = Console(stderr=True)
    try:
        config = build_config(args)
    except (ValidationError, ValueError) as exc:
        err.print(f"[red]Invalid configuration:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    target = destination_of(config)
    try:
        report = replay_spill(config, args.spill_dir)
    except Exception as exc:
        from llamonitor.backends.dsn import scrub

        detail = scrub(f"{type(exc).__name__}: {exc}", config.storage.connection_string)
        err.print(f"[red]Replay failed:[/] cannot use {escape(target)}: {escape(detail)}",
                  highlight=False, soft_wrap=True)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return 0 if report.ok else 1
    out = Console()
    if report.files_found == 0:
        out.print(f"Nothing to replay in {report.spill_dir}.", highlight=False, soft_wrap=True)
        return 0
    for done in report.files:
        if done.outcome == "replayed":
            extra = f", {done.dead_lettered} dead-lettered" if done.dead_lettered else ""
            out.print(f"  {escape(done.path)}: {done.written} written{extra}", highlight=False, soft_wrap=True)
    out.print(f"Replayed {report.events_replayed:,} events from {report.files_replayed} of "
              f"{report.files_found} files in {report.spill_dir} to {target}.", highlight=False, soft_wrap=True)
    if report.events_dead_lettered:
        out.print(f"{report.events_dead_lettered:,} events were refused by the backend on their own and kept "
                  f"with their errors in {report.spill_dir}/_dead_letter/.", highlight=False, soft_wrap=True)
    if report.files_skipped:
        out.print(f"{report.files_skipped} files were taken by another replay.", highlight=False, soft_wrap=True)
    for failure in report.failures:
        err.print(f"[red]failed:[/] {escape(failure.path)}: {escape(failure.error)}", highlight=False, soft_wrap=True)
    left = len(report.failures) - report.files_quarantined
    if left:
        err.print(f"{left} files failed and were left in place; run replay again.", highlight=False, soft_wrap=True)
    return 0 if report.ok else 1

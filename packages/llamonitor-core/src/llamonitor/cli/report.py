"""``llamonitor report``: totals, latency percentiles, tokens and cost of a Parquet dataset."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llamonitor.query.summary import GroupStats, NoDataError, Summary, summarize_parquet


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.4f}" if value >= 1 else f"${value:.6f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _overview(summary: Summary) -> Table:
    table = Table(title=f"llamonitor report: {summary.path}", box=box.SIMPLE_HEAVY, show_header=False,
                  title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    lat = summary.latency
    rows = [
        ("Events", f"{summary.total_events:,}  ({summary.files} files)"),
        ("Errors", f"{summary.errors:,}  ({_pct(summary.error_rate)})"),
        ("Sessions", f"{summary.sessions:,}"),
        ("Traces", f"{summary.traces:,}"),
        ("Latency p50 / p95 / p99", f"{_ms(lat.p50_ms)} / {_ms(lat.p95_ms)} / {_ms(lat.p99_ms)} ms"),
        ("Tokens in / out / total",
         f"{summary.input_tokens:,} / {summary.output_tokens:,} / {summary.total_tokens:,}"),
        ("Total cost", f"{_money(summary.total_cost_usd)}  ({summary.priced_events:,} priced events)"),
    ]
    if summary.first_event is not None and summary.last_event is not None:
        rows.append(("Time range (UTC)", f"{summary.first_event:%Y-%m-%d %H:%M:%S} -> "
                                         f"{summary.last_event:%Y-%m-%d %H:%M:%S}"))
    for name, value in rows:
        table.add_row(name, value)
    return table


#: (header, cell) of the group tables; the compact set fits an 80-column terminal
_COLUMNS: dict[str, Callable[[GroupStats], str]] = {
    "events": lambda g: f"{g.events:,}",
    "errors": lambda g: f"{g.errors:,}",
    "err %": lambda g: _pct(g.error_rate),
    "p50 ms": lambda g: _ms(g.latency.p50_ms),
    "p95 ms": lambda g: _ms(g.latency.p95_ms),
    "tokens in": lambda g: f"{g.input_tokens:,}",
    "tokens out": lambda g: f"{g.output_tokens:,}",
    "tokens": lambda g: f"{g.total_tokens:,}",
    "cost": lambda g: _money(g.cost_usd),
}
_WIDE = ("events", "errors", "err %", "p50 ms", "p95 ms", "tokens in", "tokens out", "cost")
_COMPACT = ("events", "errors", "p95 ms", "tokens", "cost")


def _groups(title: str, label: str, groups: list[GroupStats], *, compact: bool = False) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", pad_edge=False)
    table.add_column(label, style="cyan", no_wrap=True)
    names = _COMPACT if compact else _WIDE
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for g in groups:
        table.add_row(g.key, *(_COLUMNS[name](g) for name in names))
    return table


def report_console() -> Console:
    """A stdout console; at least 120 columns wide when stdout is not a terminal (pipes, files)."""
    console = Console()
    if not console.is_terminal and console.width < 120:
        console = Console(width=120)
    return console


def render_summary(summary: Summary, console: Console) -> None:
    """Print ``summary`` as rich tables: overview, then by model, by agent, by operation.

    Below 100 columns the group tables drop p50, error rate and the input / output split.
    """
    compact = console.width < 100
    console.print(_overview(summary))
    console.print(_groups("By model", "model", summary.by_model, compact=compact))
    console.print(_groups("By agent", "agent", summary.by_agent, compact=compact))
    console.print(_groups("By operation", "operation", summary.by_operation, compact=compact))


def print_report(path: str | Path, *, as_json: bool = False, console: Console | None = None) -> int:
    """Summarise ``path`` and print it (tables, or JSON); returns the exit code.

    Exit code 1, with a message on stderr, when ``path`` is missing or holds no events.
    """
    err = Console(stderr=True)
    try:
        summary = summarize_parquet(path)
    except NoDataError as exc:
        err.print(f"[red]No llamonitor data:[/] {escape(str(exc))}. Run `llamonitor demo`, or pass --dir with the "
                  f"output_dir your application writes to.", highlight=False, soft_wrap=True)
        return 1
    if summary.total_events == 0:
        err.print(f"[red]No events:[/] the Parquet files under {escape(repr(str(path)))} hold no rows.",
                  highlight=False, soft_wrap=True)
        return 1
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
    else:
        render_summary(summary, console or report_console())
    return 0


def cmd_report(args: Any) -> int:
    """``llamonitor report``."""
    return print_report(args.dir, as_json=args.json)

"""The ``llamonitor`` command line: ``demo``, ``report``, ``replay``, ``analyze``, ``serve`` and ``export``.

Sub-command modules are imported only when their command runs, so ``--help`` and
``--version`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

MEASUREMENT_MODES = ("capacity", "token", "hybrid", "auto")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("llamonitor")
    except Exception:
        from llamonitor import __version__

        return __version__


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``llamonitor`` command."""
    parser = argparse.ArgumentParser(
        prog="llamonitor", description="Async-first monitoring for LLM applications and multi-agent systems.")
    parser.add_argument("--version", action="version", version=f"llamonitor {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run a simulated multi-agent support workflow through the real pipeline",
        description="Simulate customer-support sessions (orchestrator, classifier, knowledge-base, "
                    "response-generator and escalation agents), record them to Parquet, then print "
                    "the report of the output folder.")
    demo.add_argument("--sessions", type=_positive, default=20, help="customer sessions (default 20)")
    demo.add_argument("--dir", default="./llamonitor_data", help="Parquet output folder (default ./llamonitor_data)")
    demo.add_argument("--measurement", choices=MEASUREMENT_MODES, default="hybrid",
                      help="text measurement mode (default hybrid)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar or status lines")

    report = sub.add_parser(
        "report", help="summarise a Parquet dataset (events, errors, latency, tokens, cost)",
        description="Read the Parquet files under --dir (recursively) and print totals, latency "
                    "percentiles (exact, linear interpolation) and tables by model, agent and operation.")
    report.add_argument("--dir", default="./llamonitor_data", help="Parquet folder (default ./llamonitor_data)")
    report.add_argument("--json", action="store_true", help="print the numbers as JSON")

    from llamonitor.cli.serve import add_storage_options

    replay = sub.add_parser(
        "replay", help="send spilled events to the configured storage backend",
        description="Re-send the batches and overflow files in the spill directory to the storage "
                    "backend configured by LLMOPS_* variables, or by the storage options below (the same "
                    "as serve and export: give the --table / --schema the application wrote to). Each "
                    "file is deleted only after it was written; an event the backend refuses on its own "
                    "is dead-lettered, the rest of its file written.")
    replay.add_argument("--spill-dir", default=None,
                        help="spill directory (default: LLMOPS_SPILL_DIR or ./.llamonitor_spill)")
    add_storage_options(replay)
    replay.add_argument("--json", action="store_true", help="print the replay counts (and each file's) as JSON")

    analyze = sub.add_parser(
        "analyze", help="multi-agent findings (agents, handoffs, drift, bottlenecks, coalitions) and anomalies",
        description="Read the Parquet files under --dir, print agents, handoff scores, context drift, "
                    "bottlenecks, coalitions and anomalies, and write the coordination graph (SVG), an HTML "
                    "page and the findings as JSON to --out.")
    analyze.add_argument("--dir", default="./llamonitor_data", help="Parquet folder (default ./llamonitor_data)")
    analyze.add_argument("--session", default=None, help="analyse one session only")
    analyze.add_argument("--out", default="./llamonitor_analysis",
                         help="folder for coordination_graph.svg, analysis.html, analysis.json "
                              "(default ./llamonitor_analysis)")
    from llamonitor.cli.serve import add_serve_parser

    add_serve_parser(sub)
    from llamonitor.cli.export import add_export_parser

    add_export_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llamonitor`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        if args.command == "demo":
            from llamonitor.cli.demo import cmd_demo

            return cmd_demo(args)
        if args.command == "report":
            from llamonitor.cli.report import cmd_report

            return cmd_report(args)
        if args.command == "replay":
            from llamonitor.cli.replay import cmd_replay

            return cmd_replay(args)
        if args.command == "analyze":
            from llamonitor.cli.analyze import cmd_analyze

            return cmd_analyze(args)
        if args.command == "serve":
            from llamonitor.cli.serve import cmd_serve

            return cmd_serve(args)
        if args.command == "export":
            from llamonitor.cli.export import cmd_export

            return cmd_export(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

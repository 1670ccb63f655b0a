"""Every command that reads or writes the Parquet folder defaults to the same ``./llamonitor_data``.

Issue 19: ``replay`` used ``./monitoring_data`` while ``demo`` / ``report`` / ``serve`` wrote and
read ``./llamonitor_data``, so a replay after a default run wrote where nothing else looked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from llamonitor.cli.main import build_parser
from llamonitor.cli.replay import build_config


def test_replay_writes_where_the_other_commands_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LLMOPS_OUTPUT_DIR", "LLMOPS_BACKEND", "LLMOPS_CONNECTION_STRING"):
        monkeypatch.delenv(var, raising=False)
    args = build_parser().parse_args(["replay"])
    config = build_config(args)
    assert config.storage.backend == "parquet"
    assert Path(config.storage.output_dir) == Path("./llamonitor_data")
    for command in ("demo", "report", "analyze"):
        assert Path(build_parser().parse_args([command]).dir) == Path(config.storage.output_dir), command

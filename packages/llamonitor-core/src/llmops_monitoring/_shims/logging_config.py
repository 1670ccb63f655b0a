"""Seed ``llmops_monitoring.utils.logging_config``: the logging helpers its examples use.

``get_logger(name)`` returns a logger that prints to stdout at ``LLMOPS_LOG_LEVEL`` (INFO by
default), as the seed's did; llamonitor's own messages go to the ``llamonitor`` logger.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

DEFAULT_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
SIMPLE_FORMAT = "%(levelname)s: %(message)s"
DETAILED_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(filename)s:%(lineno)d - %(message)s"
_FORMATS = {"default": DEFAULT_FORMAT, "simple": SIMPLE_FORMAT, "detailed": DETAILED_FORMAT}


def _level(name: str | None, fallback: int) -> int:
    value = logging.getLevelName((name or "").upper())
    return value if isinstance(value, int) else fallback


def get_logger(name: str, level: str | None = None) -> logging.Logger:
    """A logger writing to stdout once (no duplicate handlers), at ``level`` or ``LLMOPS_LOG_LEVEL``."""
    logger = logging.getLogger(name)
    if logger.handlers:
        return logger
    logger.setLevel(_level(level or os.getenv("LLMOPS_LOG_LEVEL", "INFO"), logging.INFO))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def configure_logging(level: str = "INFO", format_style: str = "default", log_file: Path | None = None,
                      quiet: bool = False) -> None:
    """Configure the ``llmops_monitoring`` and ``llamonitor`` loggers (console and/or a file)."""
    fmt = logging.Formatter(_FORMATS.get(format_style, DEFAULT_FORMAT))
    for name in ("llmops_monitoring", "llamonitor"):
        logger = logging.getLogger(name)
        logger.setLevel(_level(level, logging.INFO))
        logger.handlers.clear()
        if not quiet:
            console = logging.StreamHandler(sys.stdout)
            console.setFormatter(fmt)
            logger.addHandler(console)
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file)
            file_handler.setFormatter(logging.Formatter(DETAILED_FORMAT))
            logger.addHandler(file_handler)
        logger.propagate = False


def disable_external_loggers(level: str = "WARNING") -> None:
    """Quieten chatty libraries (urllib3, asyncio, aiohttp, httpx, httpcore)."""
    for name in ("urllib3", "asyncio", "aiohttp", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(_level(level, logging.WARNING))


__all__ = ["configure_logging", "disable_external_loggers", "get_logger"]

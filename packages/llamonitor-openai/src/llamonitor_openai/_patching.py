"""Patching for the openai SDK: core's shared ``Patcher`` and this adapter's warn-once logger."""

from __future__ import annotations

from llamonitor.instrumentation.patching import Patcher, Target, make_warn_once

warn_once = make_warn_once("openai")

__all__ = ["Patcher", "Target", "warn_once"]

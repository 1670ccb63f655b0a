"""``llamonitor.instrumentation.usage``: one reader of OpenAI-style usage for every adapter."""

from __future__ import annotations

from types import SimpleNamespace

from llamonitor.instrumentation.usage import field, usage_from
from llamonitor.schema.events import TokenUsage


def test_chat_completions_dict_with_details() -> None:
    raw = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
           "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 7},
           "completion_tokens_details": {"reasoning_tokens": 12}}
    assert usage_from(raw) == TokenUsage(input_tokens=120, output_tokens=30, total_tokens=150, cached_input_tokens=100,
                                         cache_creation_input_tokens=7, reasoning_tokens=12, source="provider")


def test_responses_object_without_total() -> None:
    raw = SimpleNamespace(input_tokens=40, output_tokens=6, input_tokens_details=SimpleNamespace(cached_tokens=0),
                          output_tokens_details=None)
    usage = usage_from(raw, source="framework")
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (40, 6, 46)
    assert usage.cached_input_tokens is None and usage.reasoning_tokens is None and usage.source == "framework"


def test_no_counts_is_none_and_booleans_are_not_counts() -> None:
    assert usage_from(None) is None
    assert usage_from({}) is None
    assert usage_from({"prompt_tokens": True, "completion_tokens": "3"}) is None
    assert usage_from({"output_tokens": 5}).input_tokens is None


def test_field_reads_dicts_and_objects() -> None:
    assert field({"a": 1}, "a") == 1
    assert field(SimpleNamespace(a=2), "a") == 2
    assert field(None, "a") is None and field(object(), "a") is None

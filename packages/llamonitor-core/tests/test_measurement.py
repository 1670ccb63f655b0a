"""llamonitor.measurement: strategies, tokenizer families, extraction and the text collector."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any
from unittest import mock

import pydantic
import pytest
from llamonitor.instrumentation.collectors.text import TRUNCATED_ATTRIBUTE, TextCollector
from llamonitor.measurement import (
    MeasurementConfig,
    Measurer,
    Reliability,
    count_tokens,
    encoding_name_for_model,
    extract_input_text,
    extract_text,
    extract_text_info,
    measure_text,
    strategies,
    tokenizers,
)
from llamonitor.schema.events import TextMetrics, TokenUsage

HELLO = "Hello, world!"
UNI = "héllo wörld\n日本"
MULTI = (
    "The quick brown fox jumps over the lazy dog. Le renard brun rapide saute par-dessus le "
    "chien paresseux. 敏捷的棕色狐狸跳过了懒狗。 Быстрая коричневая лиса прыгает через ленивую "
    "собаку. 🦊🐕"
)
# reference counts computed with tiktoken 0.14 (cl100k_base, o200k_base)
MULTI_CL100K, MULTI_O200K = 87, 63
UNI_CL100K, UNI_O200K = 9, 7


def measurer(mode: str = "capacity", **options: Any) -> Measurer:
    return Measurer(MeasurementConfig.coerce({"mode": mode, **options}))


# -- config -----------------------------------------------------------------------------------

def test_coerce_forms() -> None:
    assert MeasurementConfig.coerce(None).mode == "capacity"
    assert MeasurementConfig.coerce("token").mode == "token"
    cfg = MeasurementConfig.coerce({
        "mode": "hybrid", "prefer_tokens": True, "fallback_enabled": True,
        "parallel_hybrid": True, "async_tokenization": True, "tokenization_timeout_ms": 100,
    })
    assert (cfg.mode, cfg.tokenization_timeout_ms, cfg.max_chars) == ("hybrid", 100.0, 1_000_000)
    assert MeasurementConfig.coerce(cfg) is cfg
    assert hash(cfg) == hash(MeasurementConfig.coerce(dict(cfg.model_dump())))
    with pytest.raises(pydantic.ValidationError):
        cfg.mode = "token"


@pytest.mark.parametrize("bad", ["tokens", {"mode": "tokens"}])
def test_bad_mode_message(bad: Any) -> None:
    with pytest.raises(ValueError) as err:
        MeasurementConfig.coerce(bad)
    assert str(err.value) == (
        "measurement.mode must be one of 'capacity', 'token', 'hybrid', 'auto'; got 'tokens'"
    )


def test_bad_options_messages() -> None:
    with pytest.raises(ValueError, match=r"measurement.tokenization_timeout_ms must be > 0; got 0"):
        MeasurementConfig.coerce({"tokenization_timeout_ms": 0})
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'timeout'.*allowed: mode"):
        MeasurementConfig.coerce({"timeout": 5})
    with pytest.raises(ValueError, match=r"measurement.max_chars must be > 0"):
        MeasurementConfig.coerce({"max_chars": -1})
    with pytest.raises(TypeError, match="measurement must be"):
        MeasurementConfig.coerce(42)  # type: ignore[arg-type]


# -- capacity ---------------------------------------------------------------------------------

def test_capacity_unicode() -> None:
    m = measurer().measure(UNI, None, None)
    assert (m.char_count, m.word_count, m.byte_size, m.line_count) == (14, 3, 20, 2)
    assert (m.input_char_count, m.output_char_count) == (14, 0)
    assert m.total_tokens is None and m.token_reliability is None and m.tokenizer is None
    assert m.measurement_mode == "capacity"


def test_capacity_combines_input_and_output() -> None:
    m = measurer().measure("one two\nthree\n", "four", "gpt-4o")
    assert (m.char_count, m.word_count, m.byte_size, m.line_count) == (18, 4, 18, 3)
    assert (m.input_char_count, m.output_char_count) == (14, 4)
    assert m.input_tokens is None
    empty = measurer().measure("", None, None)
    assert (empty.char_count, empty.word_count, empty.byte_size, empty.line_count) == (0, 0, 0, 0)


def test_capacity_big_text_word_count_across_chunks() -> None:
    text = ("abc " * 700_000) + "tail"  # > 1 MiB: counted per chunk
    chars, words, size, lines = strategies.capacity_counts(text)
    assert (chars, words, size, lines) == (len(text), 700_001, len(text), 1)
    glued = "x" * (strategies._WORD_CHUNK + 10)  # one word spanning two chunks
    assert strategies.capacity_counts(glued)[1] == 1


# -- tokens -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "encoding"), [
    ("gpt-4", "cl100k_base"), ("gpt-4-0613", "cl100k_base"), ("gpt-4-turbo-2024-04-09", "cl100k_base"),
    ("gpt-4-32k", "cl100k_base"), ("gpt-3.5-turbo-0125", "cl100k_base"), ("gpt-35-turbo", "cl100k_base"),
    ("text-embedding-3-small", "cl100k_base"), ("text-embedding-ada-002", "cl100k_base"),
    ("gpt-4o", "o200k_base"), ("gpt-4o-2024-08-06", "o200k_base"), ("gpt-4o-mini", "o200k_base"),
    ("openai/gpt-4o", "o200k_base"), ("azure/gpt-4.1-mini", "o200k_base"), ("gpt-4.5-preview", "o200k_base"),
    ("gpt-5", "o200k_base"), ("gpt-5-mini-2025-08-07", "o200k_base"), ("o1", "o200k_base"),
    ("o1-mini", "o200k_base"), ("o3-mini", "o200k_base"), ("o4-mini-2025-04-16", "o200k_base"),
    ("chatgpt-4o-latest", "o200k_base"), ("gpt-oss-120b", "o200k_base"), ("gpt-oss:20b", "o200k_base"),
    ("openai:gpt-4o", "o200k_base"), ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
    ("OpenRouter/OpenAI/GPT-4o", "o200k_base"),
    ("claude-3-5-sonnet-20241022", None), ("gemini-1.5-pro", None), ("llama-3.1-70b", None),
    ("mistral-large", None), ("o10-something", None), ("gpt-4o/", None), (None, None),
    ("", None),
])
def test_model_families(model: str | None, encoding: str | None) -> None:
    assert encoding_name_for_model(model) == encoding


def test_exact_counts_gpt4_and_gpt4o() -> None:
    assert count_tokens(HELLO, "gpt-4") == (4, "exact", "cl100k_base")
    assert count_tokens(HELLO, "gpt-4o") == (4, "exact", "o200k_base")
    assert count_tokens(MULTI, "gpt-4").count == MULTI_CL100K
    assert count_tokens(MULTI, "gpt-4o-2024-08-06") == (MULTI_O200K, "exact", "o200k_base")
    assert count_tokens("", "gpt-4o") == (0, "exact", "o200k_base")


def test_token_mode() -> None:
    m = measurer("token").measure(UNI, HELLO, "gpt-4")
    assert (m.input_tokens, m.output_tokens, m.total_tokens) == (UNI_CL100K, 4, UNI_CL100K + 4)
    assert (m.token_reliability, m.tokenizer, m.measurement_mode) == ("exact", "cl100k_base", "token")
    # chars are a len() and always reported; words / bytes / lines are capacity work
    assert (m.char_count, m.word_count, m.byte_size, m.line_count) == (len(UNI) + len(HELLO), None, None, None)
    assert (m.input_char_count, m.output_char_count) == (14, 13)


def test_dated_alias_uses_o200k() -> None:
    m = measurer("token").measure(UNI, None, "gpt-4o-2024-08-06")
    assert (m.input_tokens, m.tokenizer) == (UNI_O200K, "o200k_base")


def test_special_token_text_is_ordinary() -> None:
    text = "before <|endoftext|> after <|fim_prefix|>"
    assert count_tokens(text, "gpt-4").count == 14
    assert count_tokens(text, "gpt-4o").count == 15
    assert count_tokens("<|endoftext|>", "gpt-4o").count == 7


def test_claude_is_estimated() -> None:
    text = "x" * 10
    m = measurer("token").measure(text, "abc", "claude-3-5-sonnet-20241022")
    assert (m.input_tokens, m.output_tokens, m.total_tokens) == (3, 1, 4)
    assert (m.token_reliability, m.tokenizer) == ("estimated", "estimate:chars/4")
    assert count_tokens(MULTI, "claude-3-opus") == (math.ceil(len(MULTI) / 4), "estimated",
                                                    "estimate:chars/4")


def test_hybrid_fills_both() -> None:
    m = measurer("hybrid").measure(UNI, HELLO, "gpt-4o")
    assert (m.char_count, m.word_count, m.byte_size, m.line_count) == (27, 5, 33, 3)
    assert (m.input_tokens, m.output_tokens, m.total_tokens) == (UNI_O200K, 4, UNI_O200K + 4)
    assert (m.token_reliability, m.measurement_mode) == ("exact", "hybrid")


def test_hybrid_large_text_runs_on_tokenizer_thread() -> None:
    big = MULTI * 100  # > INLINE_TOKENIZE_CHARS
    assert len(big) > strategies.INLINE_TOKENIZE_CHARS
    m = measurer("hybrid", tokenization_timeout_ms=5000).measure(big, None, "gpt-4o")
    assert m.input_tokens == count_tokens(big, "gpt-4o").count
    assert m.char_count == len(big) and m.token_reliability == "exact"


def test_auto_mode() -> None:
    exact = measurer("auto").measure(HELLO, None, "gpt-4o")
    assert (exact.total_tokens, exact.token_reliability, exact.char_count) == (4, "exact", 13)
    est = measurer("auto").measure(HELLO, None, "claude-sonnet-4-5")
    assert (est.total_tokens, est.token_reliability, est.char_count) == (4, "estimated", 13)
    assert est.measurement_mode == "auto"
    no_est = measurer("auto", prefer_tokens=False).measure(HELLO, None, "claude-sonnet-4-5")
    assert (no_est.total_tokens, no_est.char_count) == (None, 13)


def _broken_encoding(name: str, timeout: float | None = None) -> Any:
    raise RuntimeError("tokenizer exploded")


def test_fallback_on_tokenizer_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizers, "get_encoding", _broken_encoding)
    res = measurer("token").measure_result(UNI, HELLO, "gpt-4")
    assert res.metadata.reliability is Reliability.FALLBACK
    assert "tokenizer exploded" in (res.metadata.fallback_reason or "")
    m = res.to_text_metrics()
    assert (m.input_tokens, m.output_tokens, m.token_reliability) == (4, 4, "estimated")
    assert m.tokenizer == "estimate:chars/4"
    assert (m.char_count, m.byte_size) == (27, 33)  # capacity filled on fallback
    off = measurer("token", fallback_enabled=False).measure_result(UNI, HELLO, "gpt-4")
    assert off.metadata.reliability is Reliability.UNAVAILABLE
    assert (off.total_tokens, off.char_count, off.input_char_count) == (None, 27, 14)
    assert count_tokens(HELLO, "gpt-4") == (4, "estimated", "estimate:chars/4")


class _SlowEncoder:
    def encode_ordinary(self, text: str) -> list[int]:
        time.sleep(1.0)
        return [0]


def test_fallback_on_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizers, "get_encoding", lambda name, timeout=None: _SlowEncoder())
    big = "word " * 5000
    start = time.perf_counter()
    res = measurer("token", tokenization_timeout_ms=30).measure_result(big, None, "gpt-4o")
    assert time.perf_counter() - start < 0.5
    assert res.metadata.reliability is Reliability.FALLBACK
    assert res.metadata.fallback_reason == "tokenization timed out after 30 ms"
    assert res.total_tokens == len(big) // 4 and res.char_count == len(big)


def test_max_chars_means_capacity_and_estimate() -> None:
    res = measurer("token", max_chars=100).measure_result("a b " * 50, None, "gpt-4o")
    assert res.metadata.reliability is Reliability.ESTIMATED
    assert (res.char_count, res.word_count, res.total_tokens) == (200, 100, 50)
    assert "max_chars=100" in (res.metadata.fallback_reason or "")


async def test_measure_text_seed_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    # the seed README's snippet, verbatim apart from the package name
    from llamonitor.measurement import measure_text

    result = await measure_text(
        "Hello, world!",
        mode="token",
        context={"model": "gpt-4"}
    )

    print(f"Tokens: {result.total_tokens}")
    print(f"Characters: {result.char_count}")
    print(f"Reliability: {result.metadata.reliability.value}")
    assert capsys.readouterr().out == "Tokens: 4\nCharacters: 13\nReliability: exact\n"
    assert (result.input_tokens, result.output_tokens, result.metadata.tokenizer) == (4, 0, "cl100k_base")
    assert result.metadata.mode == "token" and result.metadata.duration_ms >= 0


async def test_measure_text_other_modes() -> None:
    cap = await measure_text(UNI)
    assert (cap.char_count, cap.word_count, cap.byte_size, cap.line_count) == (14, 3, 20, 2)
    assert cap.metadata.reliability is Reliability.EXACT and cap.total_tokens is None
    hyb = await measure_text(HELLO, mode="hybrid", context={"model": "gpt-4o", "output_text": UNI})
    assert (hyb.input_tokens, hyb.output_tokens, hyb.char_count) == (4, UNI_O200K, 27)
    with pytest.raises(ValueError, match=r"measurement\.mode must be one of"):
        await measure_text(HELLO, mode="tokens")


# -- extraction -------------------------------------------------------------------------------

class _Msg(pydantic.BaseModel):
    role: str
    content: str | None = None


class _Choice(pydantic.BaseModel):
    index: int = 0
    message: _Msg


class _Completion(pydantic.BaseModel):
    id: str = "chatcmpl-1"
    model: str = "gpt-4o"
    choices: list[_Choice]


@dataclasses.dataclass
class _Block:
    type: str
    text: str


@dataclasses.dataclass
class _AnthropicMessage:
    id: str
    content: list[_Block]


def test_extract_shapes() -> None:
    assert extract_text("plain") == "plain"
    assert extract_text(b"caf\xc3\xa9") == "café"
    assert extract_text(b"\x89PNG\r\n\x1a\n\x00\xff") == ""  # binary is skipped
    assert extract_text({"role": "user", "content": "hi"}) == "hi"
    assert extract_text({"a": "x", "b": ["y", 3]}) == "x\ny"
    assert extract_text([{"content": "a"}, {"content": "b"}]) == "a\nb"
    assert extract_text(["Hel", "lo"]) == "Hello"  # streamed string chunks
    assert extract_text({"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]}) == ""
    completion = _Completion(choices=[_Choice(message=_Msg(role="assistant", content="answer"))])
    assert extract_text(completion) == "answer"
    assert extract_text(completion.model_dump()) == "answer"
    empty = _Completion(choices=[_Choice(message=_Msg(role="assistant"))])
    assert extract_text(empty) == ""  # never the id / model fields
    msg = _AnthropicMessage("m1", [_Block("text", "one"), _Block("text", "two")])
    assert extract_text(msg) == "one\ntwo"
    chunks = [{"choices": [{"delta": {"content": c}}]} for c in ("Hel", "lo", "!")]
    assert extract_text(chunks) == "Hello!"
    events = [{"type": "content_block_delta", "delta": {"type": "text_delta", "text": t}}
              for t in ("a", "b")]
    assert extract_text(events) == "ab"


def test_extract_does_not_str_arbitrary_objects() -> None:
    class Client:
        api_key = "sk-secret"

        def __str__(self) -> str:
            return "sk-secret"

    assert extract_text(Client()) == ""
    assert extract_text([1, 2.5, None, True, Client()]) == ""
    assert extract_text(mock.MagicMock()) == ""  # __getattr__ magic is never triggered
    assert extract_text(iter(["a", "b"])) == ""  # iterators are never consumed


def test_extract_input_text() -> None:
    class Agent:
        def __init__(self) -> None:
            self.history = ["old"]

    text = extract_input_text(
        (Agent(), "question?"),
        {"model": "gpt-4o", "temperature": 0.2,
         "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
    )
    assert text == "question?\nbe brief\nhi"
    assert extract_input_text((_Msg(role="user", content="as object"),), {}) == "as object"


def test_extract_hostile_inputs() -> None:
    cyclic: dict[str, Any] = {"a": "x", "items": []}
    cyclic["items"].append(cyclic)
    cyclic["self"] = cyclic
    assert extract_text_info(cyclic) == ("x", False)
    loop: list[Any] = ["a"]
    loop.append(loop)
    assert extract_text(loop) == "a"

    class Evil:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        __repr__ = __str__

        @property
        def content(self) -> str:
            raise RuntimeError("no content")

    class EvilStr(str):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    assert extract_text([Evil(), EvilStr("kept")]) == "kept"
    deep: Any = "bottom"
    for _ in range(10_000):
        deep = [deep]
    info = extract_text_info(deep)
    assert info == ("", True)

    huge = "x" * 10_000_000
    start = time.perf_counter()
    info = extract_text_info({"content": huge}, limit=1000)
    assert time.perf_counter() - start < 0.05
    assert info == ("x" * 1000, True)


def test_collector_hostile_and_truncated() -> None:
    collector = TextCollector()
    cfg = MeasurementConfig.coerce("hybrid")
    huge = "y" * 10_000_000
    start = time.perf_counter()
    out = collector.collect(huge, ("prompt",), {}, {"measurement": cfg, "model": "gpt-4o"})
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed
    m = out["text_metrics"]
    assert out["custom_attributes"] == {TRUNCATED_ATTRIBUTE: True}
    assert m.output_char_count == cfg.max_chars and m.token_reliability == "estimated"
    assert m.output_tokens == cfg.max_chars // 4 and m.char_count == cfg.max_chars + 6

    class Evil:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    cyclic: dict[str, Any] = {}
    cyclic["x"] = cyclic
    out = collector.collect(Evil(), (cyclic, Evil()), {"k": Evil()}, {})
    assert out == {"text_metrics": TextMetrics(char_count=0, word_count=0, byte_size=0, line_count=0,
                                               input_char_count=0, output_char_count=0,
                                               measurement_mode="capacity")}


# -- collector --------------------------------------------------------------------------------

def test_collector_metric_type_and_default_capacity() -> None:
    collector = TextCollector()
    assert collector.metric_type == "text"
    out = collector.collect("four five", ("one two three",), {}, {"model": "gpt-4o"})
    m = out["text_metrics"]
    assert (m.char_count, m.word_count, m.input_char_count, m.output_char_count) == (22, 5, 13, 9)
    assert m.total_tokens is None and m.measurement_mode == "capacity"


def test_collector_token_mode_and_stream_chunks() -> None:
    out = TextCollector().collect(["Hel", "lo, ", "world!"], (), {"prompt": UNI},
                                  {"measurement": "token", "model": "gpt-4"})
    m = out["text_metrics"]
    assert (m.input_tokens, m.output_tokens, m.tokenizer) == (UNI_CL100K, 4, "cl100k_base")


def test_collector_provider_usage_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizers, "get_encoding", _broken_encoding)  # must not be needed
    usage = TokenUsage(input_tokens=120, output_tokens=30, source="provider")
    ctx = {"measurement": MeasurementConfig.coerce("hybrid"), "model": "gpt-4o", "usage": usage}
    m = TextCollector().collect(HELLO, ("prompt",), {}, ctx)["text_metrics"]
    assert (m.input_tokens, m.output_tokens, m.total_tokens) == (120, 30, 150)
    assert (m.token_reliability, m.tokenizer) == ("exact", "provider")
    assert m.char_count == 19
    ctx["measurement"] = "capacity"
    m = TextCollector().collect(HELLO, (), {}, ctx)["text_metrics"]
    assert m.total_tokens is None and m.char_count == 13
    ctx["measurement"] = "token"
    ctx["usage"] = {"input_tokens": 7}
    m = TextCollector().collect(HELLO, (), {}, ctx)["text_metrics"]
    assert (m.input_tokens, m.output_tokens, m.total_tokens, m.char_count) == (7, None, 7, 13)


def test_measurer_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    m = measurer("hybrid", tokenization_timeout_ms=10_000)
    big = MULTI * 60  # some calls go through the tokenizer thread
    jobs = [(UNI, "gpt-4o"), (MULTI, "gpt-4"), (big, "gpt-4o"), (HELLO, "claude-3-haiku")] * 25
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda job: m.measure(job[0], None, job[1]), jobs))
    for (text, model), res in zip(jobs, results, strict=True):
        assert res.input_tokens == count_tokens(text, model).count
        assert res.char_count == len(text)

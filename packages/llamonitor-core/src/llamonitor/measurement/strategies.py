"""Measurement strategies: capacity, token, hybrid and auto.

:class:`Measurer` is what the worker calls (synchronously, on its own thread) for every event;
:func:`measure_text` is the seed README's direct, awaitable API.

Reliability (``MeasurementResult.metadata.reliability``) describes the least reliable number in
a result:

- ``Reliability.EXACT`` (``"exact"``): capacity counts, tokens from the model family's tokenizer;
- ``Reliability.ESTIMATED`` (``"estimated"``): tokens estimated as ``ceil(chars / 4)`` by design
  (no exact tokenizer for the model, or the text is longer than ``max_chars``);
- ``Reliability.FALLBACK`` (``"fallback"``): the exact tokenizer failed or timed out and
  capacity plus the estimate were reported instead;
- ``Reliability.UNAVAILABLE`` (``"unavailable"``): tokens were asked for, could not be counted
  and ``fallback_enabled`` is off, so the token fields are empty.

On :class:`~llamonitor.schema.events.TextMetrics` ``token_reliability`` is only ``"exact"`` or
``"estimated"`` (``FALLBACK`` maps to ``"estimated"``), or ``None`` without token counts.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from llamonitor.measurement import tokenizers
from llamonitor.measurement.config import MeasurementConfig
from llamonitor.schema.events import TextMetrics

logger = logging.getLogger(__name__)

#: Texts up to this many characters (input + output) are tokenized inline: well under 1 ms.
INLINE_TOKENIZE_CHARS = 8192
_WORD_CHUNK = 1 << 20


class Reliability(str, enum.Enum):
    """How far a :class:`MeasurementResult` can be trusted (see the module doc)."""

    EXACT = "exact"
    ESTIMATED = "estimated"
    FALLBACK = "fallback"
    UNAVAILABLE = "unavailable"


class MeasurementType(str, enum.Enum):
    """What a result measured (the seed's name): capacity counts, tokens, or both."""

    CAPACITY = "capacity"
    TOKEN = "token"
    HYBRID = "hybrid"
    CUSTOM = "custom"


_CONFIDENCE = {"exact": 1.0, "estimated": 0.75, "fallback": 0.75, "unavailable": 0.0}


@dataclass(frozen=True)
class MeasurementMetadata:
    """How a measurement was made.

    ``strategy_name``, ``measurement_type``, ``measurement_time_ms``, ``tokenizer_name`` and
    ``confidence_score`` are the seed's names for the same facts (read-only).
    """

    mode: str
    reliability: Reliability
    #: ``"o200k_base"``, ``"cl100k_base"``, ``"estimate:chars/4"`` or ``None`` (no tokens)
    tokenizer: str | None = None
    duration_ms: float = 0.0
    model: str | None = None
    #: why tokens are estimated or missing (``"tokenization timed out after 100 ms"`` ...)
    fallback_reason: str | None = None
    #: the text was cut at ``max_chars`` before measuring
    truncated: bool = False

    @property
    def measurement_type(self) -> MeasurementType:
        """``CAPACITY``, ``TOKEN`` or ``HYBRID`` (mode ``auto``: ``TOKEN`` when it counted tokens)."""
        if self.mode == "auto":
            return MeasurementType.TOKEN if self.tokenizer else MeasurementType.CAPACITY
        return MeasurementType(self.mode)

    @property
    def strategy_name(self) -> str:
        """The seed's strategy class name for :attr:`measurement_type` (``"TokenStrategy"`` ...)."""
        return f"{self.measurement_type.value.capitalize()}Strategy"

    @property
    def measurement_time_ms(self) -> float:
        """Alias of :attr:`duration_ms`."""
        return self.duration_ms

    @property
    def tokenizer_name(self) -> str | None:
        """Alias of :attr:`tokenizer`."""
        return self.tokenizer

    @property
    def confidence_score(self) -> float:
        """The seed's confidence convention: exact 1.0, estimated 0.75, unavailable 0.0; a hybrid
        result averages its exact capacity counts (1.0) with its tokens."""
        score = _CONFIDENCE[self.reliability.value]
        if self.measurement_type is MeasurementType.HYBRID:
            return (1.0 + score) / 2
        return score


@dataclass(frozen=True)
class MeasurementResult:
    """Capacity and token counts of one measurement, with :class:`MeasurementMetadata`."""

    char_count: int | None = None
    word_count: int | None = None
    byte_size: int | None = None
    line_count: int | None = None
    input_char_count: int | None = None
    output_char_count: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    metadata: MeasurementMetadata = field(
        default_factory=lambda: MeasurementMetadata("capacity", Reliability.EXACT))

    def has_capacity_metrics(self) -> bool:
        return self.char_count is not None

    def has_token_metrics(self) -> bool:
        return self.total_tokens is not None

    def to_text_metrics(self) -> TextMetrics:
        """The event's ``text_metrics`` for this result."""
        token_reliability = None
        if self.total_tokens is not None:
            exact = self.metadata.reliability is Reliability.EXACT
            token_reliability = "exact" if exact else "estimated"
        return TextMetrics(
            char_count=self.char_count, word_count=self.word_count, byte_size=self.byte_size,
            line_count=self.line_count, input_char_count=self.input_char_count,
            output_char_count=self.output_char_count, input_tokens=self.input_tokens,
            output_tokens=self.output_tokens, total_tokens=self.total_tokens,
            token_reliability=token_reliability,
            tokenizer=self.metadata.tokenizer if self.total_tokens is not None else None,
            measurement_mode=self.metadata.mode,
        )


# -- capacity ---------------------------------------------------------------------------------

def _words(text: str) -> int:
    if len(text) <= _WORD_CHUNK:
        return len(text.split())
    # big texts: count per chunk (bounded memory), minus words cut in two at chunk borders
    count = 0
    prev_tail_word = False
    for start in range(0, len(text), _WORD_CHUNK):
        chunk = text[start:start + _WORD_CHUNK]
        count += len(chunk.split())
        if prev_tail_word and not chunk[0].isspace():
            count -= 1
        prev_tail_word = not chunk[-1].isspace()
    return count


def _lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def capacity_counts(*texts: str) -> tuple[int, int, int, int]:
    """``(chars, words, utf8_bytes, lines)`` summed over ``texts``.

    Words are whitespace-separated runs (``str.split()``); lines are ``"\\n"``-terminated
    (a last line without ``"\\n"`` counts too); bytes are UTF-8 (lone surrogates as 3 bytes).
    """
    chars = words = size = lines = 0
    for text in texts:
        if not text:
            continue
        chars += len(text)
        words += _words(text)
        size += len(text.encode("utf-8", "surrogatepass"))
        lines += _lines(text)
    return chars, words, size, lines


# -- tokenizer thread -------------------------------------------------------------------------

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="llamonitor-tokenize")
    return _executor


def _count_pair(encoder: tokenizers.Encoder, input_text: str, output_text: str) -> tuple[int, int]:
    n_in = len(encoder.encode_ordinary(input_text)) if input_text else 0
    n_out = len(encoder.encode_ordinary(output_text)) if output_text else 0
    return n_in, n_out


class _Tokenization:
    """Token counting of one call: inline, or on the tokenizer thread with a deadline."""

    def __init__(self, config: MeasurementConfig, encoding: str, inp: str, out: str) -> None:
        self.encoding = encoding
        self.timeout_s = config.tokenization_timeout_ms / 1000.0
        self.future: Future[tuple[int, int]] | None = None
        self.result: tuple[int, int] | None = None
        self.error: str | None = None
        self.started = 0.0
        try:
            encoder = tokenizers.get_encoding(encoding)  # the one-off load is not timed
        except Exception as exc:
            self.error = f"tokenizer {encoding} unavailable: {exc!r}"
            return
        if config.async_tokenization and len(inp) + len(out) > INLINE_TOKENIZE_CHARS:
            self.future = _pool().submit(_count_pair, encoder, inp, out)
            self.started = time.perf_counter()
        else:
            try:
                self.result = _count_pair(encoder, inp, out)
            except Exception as exc:
                self.error = f"tokenizer {encoding} failed: {exc!r}"

    def wait(self) -> tuple[int, int] | None:
        if self.future is not None:
            remaining = self.timeout_s - (time.perf_counter() - self.started)
            try:
                self.result = self.future.result(timeout=max(0.0, remaining))
            except (FutureTimeout, TimeoutError):
                self.future.cancel()
                self.error = f"tokenization timed out after {self.timeout_s * 1000:g} ms"
            except Exception as exc:
                self.error = f"tokenizer {self.encoding} failed: {exc!r}"
            self.future = None
        return self.result


# -- measurer ---------------------------------------------------------------------------------

class Measurer:
    """Measures one call's input and output text according to a :class:`MeasurementConfig`.

    Stateless apart from its config, so one instance can serve many threads.
    """

    def __init__(self, config: MeasurementConfig) -> None:
        self.config = config

    def measure(self, input_text: str | None, output_text: str | None, model: str | None, *,
                truncated: bool = False, tokenize: bool = True) -> TextMetrics:
        """The ``TextMetrics`` of a call (see :meth:`measure_result`)."""
        return self.measure_result(input_text, output_text, model, truncated=truncated,
                                   tokenize=tokenize).to_text_metrics()

    def measure_result(self, input_text: str | None, output_text: str | None, model: str | None,
                       *, truncated: bool = False, tokenize: bool = True) -> MeasurementResult:
        """Measure a call. Never raises for any ``str``/``None`` inputs.

        ``truncated`` says the texts were cut at ``max_chars`` (tokens are then estimated);
        ``tokenize=False`` leaves the token fields empty (the caller has provider-reported usage).
        """
        t0 = time.perf_counter()
        cfg = self.config
        inp = input_text if isinstance(input_text, str) else ""
        out = output_text if isinstance(output_text, str) else ""
        n_in, n_out = len(inp), len(out)
        mode = cfg.mode
        encoding = tokenizers.encoding_name_for_model(model)

        want_capacity = mode in ("capacity", "hybrid")
        want_tokens = mode in ("token", "hybrid") and tokenize
        if mode == "auto" and encoding is None:
            want_capacity = True
            want_tokens = cfg.prefer_tokens and tokenize
        elif mode == "auto":
            want_tokens = tokenize

        reliability = Reliability.EXACT
        tokenizer: str | None = None
        reason: str | None = None
        counts: tuple[int, int] | None = None
        job: _Tokenization | None = None
        estimate = False
        if want_tokens:
            if encoding is None:
                estimate, reliability = True, Reliability.ESTIMATED
                reason = f"no exact tokenizer for model {model!r}"
            elif truncated or n_in + n_out > cfg.max_chars:
                estimate, reliability, want_capacity = True, Reliability.ESTIMATED, True
                reason = f"text longer than max_chars={cfg.max_chars}"
            else:
                job = _Tokenization(cfg, encoding, inp, out)
                if job.future is not None and not (mode == "hybrid" and cfg.parallel_hybrid):
                    counts = job.wait()

        capacity = capacity_counts(inp, out) if want_capacity else None
        if job is not None:
            counts = counts if counts is not None else job.wait()
            if counts is not None:
                tokenizer = encoding
            else:
                reason = job.error
                if cfg.fallback_enabled:
                    estimate, reliability = True, Reliability.FALLBACK
                    if capacity is None:
                        capacity = capacity_counts(inp, out)
                else:
                    reliability = Reliability.UNAVAILABLE
        if estimate:
            counts = (tokenizers.estimate_tokens(n_in), tokenizers.estimate_tokens(n_out))
            tokenizer = tokenizers.ESTIMATE_TOKENIZER
        if reason and reliability is not Reliability.ESTIMATED:
            logger.debug("llamonitor measurement: %s", reason)

        # Character counts cost a len(): every mode reports them (words/bytes/lines need capacity).
        chars, words, size, lines = capacity if capacity is not None else (n_in + n_out, None, None, None)
        return MeasurementResult(
            char_count=chars, word_count=words, byte_size=size, line_count=lines,
            input_char_count=n_in, output_char_count=n_out,
            input_tokens=counts[0] if counts else None,
            output_tokens=counts[1] if counts else None,
            total_tokens=counts[0] + counts[1] if counts else None,
            metadata=MeasurementMetadata(
                mode=mode, reliability=reliability, tokenizer=tokenizer,
                duration_ms=(time.perf_counter() - t0) * 1000.0, model=model,
                fallback_reason=reason, truncated=truncated,
            ),
        )


async def measure_text(text: str, mode: str = "capacity",
                       context: dict[str, Any] | None = None) -> MeasurementResult:
    """Measure ``text`` (the seed README's direct API)::

        result = await measure_text("Hello, world!", mode="token", context={"model": "gpt-4"})
        result.total_tokens                      # 4
        result.metadata.reliability.value        # "exact"

    ``context`` keys: ``model``; ``output_text`` (measured as the output, ``text`` being the
    input); any :class:`MeasurementConfig` field (``tokenization_timeout_ms``, ``max_chars`` ...).
    Other keys are ignored. The work runs on a thread, so the event loop is not blocked while a
    tokenizer loads. Invalid ``mode`` raises ``ValueError``.
    """
    ctx = dict(context or {})
    options = {k: v for k, v in ctx.items() if k in MeasurementConfig.model_fields and k != "mode"}
    config = MeasurementConfig.coerce({"mode": mode, **options})
    model = ctx.get("model")
    output = ctx.get("output_text")
    measurer = Measurer(config)
    return await asyncio.to_thread(
        measurer.measure_result, text, output if isinstance(output, str) else None,
        model if isinstance(model, str) else None,
    )

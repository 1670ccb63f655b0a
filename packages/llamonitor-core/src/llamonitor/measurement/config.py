"""``MeasurementConfig``: how text is measured (the ``measurement=`` argument of ``monitor_llm``).

Accepted forms (see :meth:`MeasurementConfig.coerce`)::

    measurement="auto"                      # a mode name
    measurement={"mode": "hybrid", "tokenization_timeout_ms": 50}
    measurement=MeasurementConfig(mode="token")
"""

from __future__ import annotations

import functools
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

MeasurementMode = Literal["capacity", "token", "hybrid", "auto"]
MODES: tuple[str, ...] = get_args(MeasurementMode)


def _mode_error(value: object) -> str:
    allowed = ", ".join(repr(m) for m in MODES)
    return f"measurement.mode must be one of {allowed}; got {value!r}"


class MeasurementConfig(BaseModel):
    """Measurement settings (immutable and hashable, so measurers can be cached per config).

    - ``mode``: ``"capacity"`` (chars / words / bytes / lines), ``"token"`` (token counts with the
      model family's tokenizer), ``"hybrid"`` (both) or ``"auto"`` (tokens when the model has an
      exact tokenizer, otherwise capacity plus an estimate).
    - ``prefer_tokens``: in ``auto`` mode, for models without an exact tokenizer, also report
      estimated token counts (``True``) or capacity only (``False``).
    - ``fallback_enabled``: when the tokenizer fails or times out, report capacity plus estimated
      tokens (``True``) instead of leaving the token fields empty (``False``).
    - ``parallel_hybrid``: in ``hybrid`` mode, count capacity while the tokenizer runs on its
      thread (only meaningful with ``async_tokenization``).
    - ``async_tokenization``: tokenize texts longer than a few KB on the tokenizer thread so that
      ``tokenization_timeout_ms`` can be enforced; when ``False`` tokenization runs inline and the
      timeout is not enforced.
    - ``tokenization_timeout_ms``: the longest the measurer waits for one call's token counts.
    - ``max_chars``: texts longer than this (input + output) are measured by capacity only and
      their tokens estimated (reliability ``"estimated"``); extraction also stops at this size.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: MeasurementMode = "capacity"
    prefer_tokens: bool = True
    fallback_enabled: bool = True
    parallel_hybrid: bool = True
    async_tokenization: bool = True
    tokenization_timeout_ms: float = 100.0
    max_chars: int = 1_000_000

    @field_validator("mode", mode="before")
    @classmethod
    def _check_mode(cls, value: Any) -> Any:
        if not isinstance(value, str) or value not in MODES:
            raise ValueError(_mode_error(value))
        return value

    @field_validator("tokenization_timeout_ms")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"measurement.tokenization_timeout_ms must be > 0; got {value!r}")
        return value

    @field_validator("max_chars")
    @classmethod
    def _check_max_chars(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"measurement.max_chars must be > 0; got {value!r}")
        return value

    @classmethod
    def coerce(cls, value: str | dict[str, Any] | MeasurementConfig | None) -> MeasurementConfig:
        """Turn the user's ``measurement=`` value into a config.

        ``None`` gives the default (capacity); a string is a mode name; a dict holds the fields
        of the seed README's *Advanced Configuration*. Invalid values raise ``ValueError`` naming
        the field and what is allowed; an unsupported type raises ``TypeError``.
        """
        if value is None:
            return _default()
        if isinstance(value, MeasurementConfig):
            return value
        if isinstance(value, str):
            return _from_mode(value)
        if isinstance(value, dict):
            unknown = sorted(str(k) for k in value if k not in cls.model_fields)
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(
                    f"measurement has unknown option(s) {', '.join(map(repr, unknown))}; "
                    f"allowed: {allowed}"
                )
            try:
                return cls(**value)
            except ValidationError as exc:
                raise ValueError(_describe(exc)) from None
        raise TypeError(
            "measurement must be a mode name ('capacity', 'token', 'hybrid', 'auto'), a dict "
            f"or a MeasurementConfig; got {type(value).__name__}"
        )


def _describe(exc: ValidationError) -> str:
    messages = []
    for err in exc.errors():
        msg = str(err.get("msg", ""))
        msg = msg.removeprefix("Value error, ")
        if not msg.startswith("measurement."):
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = f"measurement.{loc}: {msg}; got {err.get('input')!r}"
        messages.append(msg)
    return "; ".join(messages)


@functools.lru_cache(maxsize=1)
def _default() -> MeasurementConfig:
    return MeasurementConfig()


@functools.lru_cache(maxsize=16)
def _from_mode(mode: str) -> MeasurementConfig:
    if mode not in MODES:
        raise ValueError(_mode_error(mode))
    return MeasurementConfig(mode=mode)  # type: ignore[arg-type]

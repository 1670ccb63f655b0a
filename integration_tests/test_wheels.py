"""PACKAGING TEST (slow: up to a couple of minutes with a cold cache; needs the package index or
uv's cache). Builds every package's sdist and, from it, its wheel; installs the wheels into a
fresh virtual environment that knows nothing of the workspace; imports every package and runs
``examples/01_simple_example.py`` with that environment's Python. Catches missing files,
undeclared dependencies and broken metadata.

Skip it with ``LLAMONITOR_SKIP_WHEEL_TEST=1`` (or ``--deselect integration_tests/test_wheels.py``).
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(360),
    pytest.mark.skipif(os.environ.get("LLAMONITOR_SKIP_WHEEL_TEST") == "1", reason="LLAMONITOR_SKIP_WHEEL_TEST=1"),
]

ROOT = Path(__file__).resolve().parents[1]
#: the published packages (packages/testkits holds our own test helpers and is not published)
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir()
                  if (p / "pyproject.toml").is_file() and p.name.startswith("llamonitor"))
#: distribution name -> import names
IMPORTS = {
    "llamonitor": ["llamonitor", "llmops_monitoring"],
    "llamonitor-openai": ["llamonitor_openai"],
    "llamonitor-anthropic": ["llamonitor_anthropic"],
    "llamonitor-crewai": ["llamonitor_crewai"],
    "llamonitor-autogen": ["llamonitor_autogen"],
    "llamonitor-langchain": ["llamonitor_langchain"],
    "llamonitor-llamaindex": ["llamonitor_llamaindex"],
    "llamonitor-openai-agents": ["llamonitor_openai_agents"],
    "llamonitor-pydantic-ai": ["llamonitor_pydantic_ai"],
    "llamonitor-smolagents": ["llamonitor_smolagents"],
    "llamonitor-google-adk": ["llamonitor_google_adk"],
}
REQUIRED_METADATA = ["Name", "Version", "Summary", "Requires-Python", "License-Expression", "Project-URL"]


#: pyarrow's intermittent abort at interpreter exit (apache/arrow#34314), after the script's work
ARROW_EXIT_ABORT = "terminate called without an active exception"


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode == -signal.SIGABRT and proc.stderr.strip() == ARROW_EXIT_ABORT:
        # pyarrow's exit-time abort (ours is fixed, see test_parquet_backend.py): one more run only
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, \
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (needed to build the wheels)")
    out = tmp_path_factory.mktemp("wheels")
    built: dict[str, Path] = {}
    for pkg in PACKAGES:
        before = set(out.iterdir())
        # sdist first, then the wheel built from the sdist: a file missing from the sdist fails here
        _run([uv, "build", str(pkg), "--out-dir", str(out), "--quiet"], cwd=ROOT, timeout=120)
        new = set(out.iterdir()) - before
        (wheel,) = [p for p in new if p.suffix == ".whl"]
        (sdist,) = [p for p in new if p.name.endswith(".tar.gz")]
        with tarfile.open(sdist) as tf:
            names = tf.getnames()
        assert any(n.endswith("/README.md") for n in names), f"{sdist.name}: no README.md"
        assert any(n.endswith("/py.typed") for n in names), f"{sdist.name}: no py.typed"
        built[pkg.name.replace("llamonitor-core", "llamonitor")] = wheel
    return built


def test_every_package_is_known(wheels: dict[str, Path]) -> None:
    assert sorted(wheels) == sorted(IMPORTS)


def test_wheel_metadata_is_complete_and_versions_in_step(wheels: dict[str, Path]) -> None:
    versions = {}
    for name, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as zf:
            meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            meta = email.message_from_bytes(zf.read(meta_name))
            typed = [n for n in zf.namelist() if n.endswith("/py.typed")]
        missing = [field for field in REQUIRED_METADATA if not meta.get_all(field)]
        assert not missing, f"{name}: missing {missing}"
        assert meta.get_all("Classifier"), f"{name}: no classifiers"
        assert meta.get_payload().strip(), f"{name}: no README in the long description"
        assert typed, f"{name}: no py.typed"
        versions[name] = meta["Version"]
    assert len(set(versions.values())) == 1, versions


def test_fresh_venv_imports_everything_and_runs_simple_example(wheels: dict[str, Path], tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=shutil.which("uv") is None, clear=True).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wheel_dir = str(next(iter(wheels.values())).parent)
    files = [str(w) for w in wheels.values()]
    uv = shutil.which("uv")
    if uv is not None:  # much faster than pip, same resolution against the index
        cmd = [uv, "pip", "install", "--python", str(python), "--find-links", wheel_dir, *files]
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", "--find-links", wheel_dir, *files]
    # outside the workspace: uv must not pick up the repository's pyproject / lock
    _run(cmd, cwd=tmp_path, timeout=240, env={**os.environ, "VIRTUAL_ENV": str(env_dir)})

    modules = [m for names in IMPORTS.values() for m in names]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    mod = importlib.import_module(name)\n"
            "    assert 'site-packages' in (mod.__file__ or ''), (name, mod.__file__)\n"
            "import llamonitor, llmops_monitoring.measurement\n"
            "print('imported', len(sys.modules) > 0, llamonitor.__version__)\n")
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert "imported True 0.1.0" in _run([str(python), "-c", code], cwd=tmp_path, timeout=60, env=clean_env)

    out = _run([str(python), str(ROOT / "examples" / "01_simple_example.py")], cwd=tmp_path, timeout=60,
               env=clean_env)
    assert "recorded 3 events" in out
    assert sys.executable != str(python)

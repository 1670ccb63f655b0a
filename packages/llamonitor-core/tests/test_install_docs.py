"""Install truth: the docs' install commands name distributions that exist and can be installed.

The workspace's packages are not on the package index yet, so a ``pip install`` of one of them
must use a path, a wheel or a git URL; a ``llamonitor-*`` name that no ``pyproject.toml`` declares
(``llamonitor-core`` was one) is always wrong. The README's two set-up commands are the ones
``.ci/run`` runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEMO_COMMAND = "python3 -m pip install uv && uv run --no-dev --package llamonitor llamonitor demo"
TEST_COMMAND = "python3 -m pip install uv && uv run pytest"


def _distributions() -> set[str]:
    names = set()
    for pyproject in ROOT.glob("packages/*/pyproject.toml"):
        # the first top-level name = (tomllib is 3.11+; the project supports 3.10)
        names.add(re.search(r'^name = "([^"]+)"', pyproject.read_text(), re.M).group(1))  # type: ignore[union-attr]
    return names


def _doc_files() -> list[Path]:
    files = [ROOT / "README.md", *ROOT.glob("packages/*/README.md"), *ROOT.glob("examples/**/*.md")]
    files += [p for p in ROOT.glob("docs/**/*.md") if "seed" not in p.relative_to(ROOT / "docs").parts]
    return files


def _pip_requirements(text: str) -> list[str]:
    """Every requirement argument of every ``pip install`` command in ``text``."""
    found = []
    for match in re.finditer(r"pip install ([^`\n]*)", text):
        command = re.split(r"\s(?:&&|#|;|\|)", match.group(1))[0]
        try:
            args = shlex.split(command)
        except ValueError:
            args = command.split()
        found += [a for a in args if not a.startswith("-")]
    return found


def _is_local(requirement: str) -> bool:
    return requirement.startswith(("./", "../", "/", "git+")) or ".whl" in requirement or " @ " in requirement


def test_doc_install_commands_name_real_installable_distributions() -> None:
    distributions = _distributions()
    assert "llamonitor" in distributions and "llamonitor-openai" in distributions
    wrong = []
    for path in _doc_files():
        for requirement in _pip_requirements(path.read_text(encoding="utf-8")):
            if _is_local(requirement):
                continue
            name = re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].lower()
            if name.startswith("llamonitor"):
                why = "not on the package index" if name in distributions else "no such distribution"
                wrong.append(f"{path.relative_to(ROOT)}: pip install {requirement} ({why})")
    assert not wrong, "\n".join(wrong)


def test_docs_name_no_undeclared_llamonitor_distribution() -> None:
    distributions = _distributions()
    wrong = []
    for path in _doc_files():
        for match in re.finditer(r"(?<![/\w.-])(llamonitor-[a-z]+)(?![/\w-])", path.read_text(encoding="utf-8")):
            # llamonitor-async: the seed project (docs/seed); llamonitor-dashboard: a Grafana uid
            if match.group(1) not in distributions | {"llamonitor-async", "llamonitor-dashboard"}:
                wrong.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert not wrong, "\n".join(wrong)


def test_readme_starts_with_the_two_setup_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == [DEMO_COMMAND, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # .ci/run adds only pip's --quiet
    assert TEST_COMMAND in [line.replace("pip install --quiet ", "pip install ") for line in ci.splitlines()]

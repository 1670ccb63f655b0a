"""Reads Python source with :mod:`ast` (never imports or runs it) into :class:`ModuleInfo` objects."""

from __future__ import annotations

import ast
import logging
import os
import re
import tokenize
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from llamonitor.analytics.topology.models import (
    ClassInfo,
    FunctionInfo,
    FunctionType,
    ImportStatement,
    ImportType,
    ModuleInfo,
)

logger = logging.getLogger("llamonitor.topology")

DEFAULT_INCLUDE: tuple[str, ...] = ("**/*.py",)
DEFAULT_EXCLUDE: tuple[str, ...] = (
    "**/test_*.py", "**/*_test.py", "**/tests/**", "**/__pycache__/**", "**/.venv/**", "**/venv/**",
    "**/.git/**", "**/node_modules/**", "**/site-packages/**", "**/build/**", "**/dist/**",
)

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BRANCHES = (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.comprehension)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a ``/``-separated glob where ``**`` spans any number of directories."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def module_path_of(relative: str) -> str:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p and p != "."]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def cyclomatic_complexity(node: ast.AST) -> int:
    """1 + decision points of ``node``'s own body: ``if``/``elif``, conditional expressions,
    loops, ``except`` clauses, ``case`` clauses, comprehension ``for``/``if`` parts and each
    extra operand of ``and``/``or``. Nested functions and classes count for themselves."""
    total = 1
    for n in own_nodes(node):
        if isinstance(n, _BRANCHES):
            total += 1
            if isinstance(n, ast.comprehension):
                total += len(n.ifs)
        elif isinstance(n, ast.BoolOp):
            total += len(n.values) - 1
        elif isinstance(n, ast.match_case):
            total += 1
    return total


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes inside ``node`` without descending into nested function or class definitions
    (for a definition: its body only, not its decorators, defaults or annotations)."""
    stack: list[ast.AST] = list(node.body) if isinstance(node, _DEFS) else list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, _DEFS):
            stack.extend(ast.iter_child_nodes(n))


def _dotted(expr: ast.expr) -> str | None:
    """``a.b.c`` as written, for a chain of names; ``None`` for anything else."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    if parts:  # call on an expression result (``get().run()``): keep the method name
        return parts[0]
    return None


def _decorator_name(d: ast.expr) -> str:
    target = d.func if isinstance(d, ast.Call) else d
    return _dotted(target) or ast.unparse(target)


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a module or class body, looking inside ``if``/``try``/``with`` blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            yield from _top_level([*stmt.body, *stmt.orelse])
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            handlers = [s for h in getattr(stmt, "handlers", []) for s in h.body]
            yield from _top_level([*stmt.body, *handlers, *stmt.orelse, *stmt.finalbody])  # type: ignore[attr-defined]


class CodeParser:
    """Parses Python files into :class:`ModuleInfo` (see ``docs/topology.md``).

    Files that cannot be read or parsed are skipped and listed in :attr:`errors`
    (``(path, reason)``), never raised.
    """

    def __init__(self) -> None:
        self.current_module_path = ""
        self.current_file_path = ""
        #: files skipped by the last parse, with the reason
        self.errors: list[tuple[str, str]] = []

    # -- files ------------------------------------------------------------------------------
    def parse_file(self, file_path: str, module_path: str | None = None) -> ModuleInfo | None:
        """The :class:`ModuleInfo` of one file, or ``None`` when it cannot be read or parsed.

        ``module_path`` defaults to the file's path made dotted (relative paths stay relative).
        """
        try:
            with tokenize.open(file_path) as fh:  # honours a ``# coding:`` line
                source = fh.read()
            tree = ast.parse(source, filename=file_path)
            mtime = datetime.fromtimestamp(os.path.getmtime(file_path), timezone.utc)
            return self.parse_source(source, module_path if module_path is not None else module_path_of(str(file_path)),
                                     str(file_path), tree=tree, last_modified=mtime)
        # RecursionError: absurdly deep expressions (generated code) exhaust the parser's stack
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.errors.append((str(file_path), f"{type(exc).__name__}: {exc}"))
            logger.debug("llamonitor topology: skipped %s: %s", file_path, exc)
            return None

    def parse_source(self, source: str, module_path: str, file_path: str = "", *, tree: ast.Module | None = None,
                     last_modified: datetime | None = None) -> ModuleInfo:
        """The :class:`ModuleInfo` of source text (raises ``SyntaxError`` for invalid Python)."""
        tree = tree if tree is not None else ast.parse(source, filename=file_path or "<source>")
        self.current_module_path, self.current_file_path = module_path, file_path
        is_package = os.path.basename(file_path) == "__init__.py"
        info = ModuleInfo(name=module_path.rsplit(".", 1)[-1], module_path=module_path, file_path=file_path,
                          docstring=ast.get_docstring(tree), line_count=len(source.splitlines()),
                          last_modified=last_modified, is_package=is_package)
        info.imports = self._imports(tree)
        info.import_count = len(info.imports)
        info.dependencies = {i.module_name.split(".")[0] for i in info.imports if i.module_name and not i.level}
        for stmt in _top_level(tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                info.functions.append(self._function(stmt, None))
            elif isinstance(stmt, ast.ClassDef):
                info.classes.extend(self._classes(stmt, ""))
        complexities = [f.complexity for f in info.all_functions()]
        info.complexity_score = sum(complexities) / len(complexities) if complexities else 0.0
        return info

    def parse_repository(self, repo_path: str, include_patterns: Sequence[str] | None = None,
                         exclude_patterns: Sequence[str] | None = None) -> dict[str, ModuleInfo]:
        """Every Python file under ``repo_path`` matching ``include_patterns`` and no
        ``exclude_patterns`` (globs on the path relative to ``repo_path``, ``**`` = any depth),
        by dotted module path. Default excludes: tests, virtualenvs, caches, build output."""
        root = Path(repo_path)
        include = [glob_regex(p) for p in (include_patterns or DEFAULT_INCLUDE)]
        exclude_globs = list(exclude_patterns) if exclude_patterns is not None else list(DEFAULT_EXCLUDE)
        exclude = [glob_regex(p) for p in exclude_globs]
        # directories a ``dir/**`` pattern excludes are not walked at all (``.venv`` can be huge)
        prune = [glob_regex(p[:-3]) for p in exclude_globs if p.endswith("/**")]
        self.errors = []
        modules: dict[str, ModuleInfo] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = sorted(d for d in dirnames if not any(r.match(rel_dir + d) for r in prune))
            for name in sorted(filenames):
                rel = rel_dir + name
                if not name.endswith(".py") or not any(r.match(rel) for r in include):
                    continue
                if any(r.match(rel) for r in exclude):
                    continue
                module_path = module_path_of(rel)
                info = self.parse_file(os.path.join(dirpath, name), module_path)
                if info is not None:
                    modules[module_path] = info
        return modules

    # -- pieces -----------------------------------------------------------------------------
    def _imports(self, tree: ast.Module) -> list[ImportStatement]:
        out: list[ImportStatement] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out.append(ImportStatement(module_name=a.name, imported_names=[a.name],
                                               import_type=ImportType.IMPORT, alias=a.asname,
                                               line_number=node.lineno,
                                               aliases={a.asname: a.name} if a.asname else {}))
            elif isinstance(node, ast.ImportFrom):
                out.append(ImportStatement(
                    module_name=node.module or "", imported_names=[a.name for a in node.names],
                    import_type=ImportType.RELATIVE if node.level else ImportType.FROM_IMPORT,
                    alias=node.names[0].asname if len(node.names) == 1 else None, level=node.level,
                    line_number=node.lineno, aliases={a.asname: a.name for a in node.names if a.asname}))
        out.sort(key=lambda i: i.line_number)
        return out

    def _classes(self, node: ast.ClassDef, outer: str) -> list[ClassInfo]:
        name = f"{outer}.{node.name}" if outer else node.name
        methods = [self._function(s, name) for s in _top_level(node.body)
                   if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        cls = ClassInfo(
            name=node.name, qualified_name=f"{self.current_module_path}.{name}", file_path=self.current_file_path,
            line_start=node.lineno, line_end=node.end_lineno or node.lineno,
            base_classes=[_dotted(b) or ast.unparse(b) for b in node.bases],
            decorators=[_decorator_name(d) for d in node.decorator_list], docstring=ast.get_docstring(node),
            methods=methods, properties=[m.name for m in methods if m.function_type is FunctionType.PROPERTY],
            line_count=(node.end_lineno or node.lineno) - node.lineno + 1, method_count=len(methods))
        nested = [c for s in _top_level(node.body) if isinstance(s, ast.ClassDef) for c in self._classes(s, name)]
        return [cls, *nested]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, parent_class: str | None) -> FunctionInfo:
        is_async = isinstance(node, ast.AsyncFunctionDef)
        decorators = [_decorator_name(d) for d in node.decorator_list]
        if parent_class is None:
            kind = FunctionType.ASYNC_FUNCTION if is_async else FunctionType.FUNCTION
        else:
            kind = FunctionType.ASYNC_METHOD if is_async else FunctionType.METHOD
            last = {d.rsplit(".", 1)[-1] for d in decorators}
            if "property" in last or "cached_property" in last:
                kind = FunctionType.PROPERTY
            elif "staticmethod" in last:
                kind = FunctionType.STATIC_METHOD
            elif "classmethod" in last:
                kind = FunctionType.CLASS_METHOD
        args = node.args
        params = [a.arg for a in (*args.posonlyargs, *args.args)]
        if args.vararg:
            params.append("*" + args.vararg.arg)
        params.extend(a.arg for a in args.kwonlyargs)
        if args.kwarg:
            params.append("**" + args.kwarg.arg)
        call_nodes = sorted((n for n in own_nodes(node) if isinstance(n, ast.Call)),
                            key=lambda n: (n.lineno, n.col_offset))  # source order
        calls = [name for n in call_nodes for name in [_dotted(n.func)] if name]
        owner = f"{parent_class}." if parent_class else ""
        end = node.end_lineno or node.lineno
        return FunctionInfo(
            name=node.name, qualified_name=f"{self.current_module_path}.{owner}{node.name}", function_type=kind,
            file_path=self.current_file_path, line_start=node.lineno, line_end=end, parameters=params,
            return_type=ast.unparse(node.returns) if node.returns is not None else None, decorators=decorators,
            docstring=ast.get_docstring(node), complexity=float(cyclomatic_complexity(node)),
            line_count=end - node.lineno + 1, is_async=is_async, calls=calls, parent_class=parent_class)

"""Data types of the code topology: modules, classes, functions, imports, graphs, token use.

Field names follow the seed project's ``llmops_monitoring.topology.models`` so code written for
it reads the same attributes. Every type has ``to_dict()`` giving JSON-ready values (UUIDs and
datetimes as strings, enums as their values).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, enums, UUIDs, datetimes and sets made JSON-ready (recursively)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this object."""
        out: dict[str, Any] = jsonable(self)
        return out


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ImportType(enum.Enum):
    """How a module was imported: ``import m``, ``from m import x`` or ``from . import x``."""

    IMPORT = "import"
    FROM_IMPORT = "from_import"
    RELATIVE = "relative"


class FunctionType(enum.Enum):
    """Kind of function definition."""

    FUNCTION = "function"
    METHOD = "method"
    ASYNC_FUNCTION = "async_function"
    ASYNC_METHOD = "async_method"
    LAMBDA = "lambda"
    PROPERTY = "property"
    STATIC_METHOD = "static_method"
    CLASS_METHOD = "class_method"


@dataclass
class ImportStatement(_ToDict):
    """One import statement. ``module_name`` is as written (empty for ``from . import x``);
    ``aliases`` maps each ``as`` name to the imported name."""

    module_name: str
    imported_names: list[str] = field(default_factory=list)
    import_type: ImportType = ImportType.IMPORT
    alias: str | None = None
    level: int = 0
    line_number: int = 0
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class FunctionInfo(_ToDict):
    """A function or method. ``complexity`` is its cyclomatic complexity (1 + decision points,
    nested definitions excluded); ``calls`` are the callee names as written (``helper``,
    ``self.step``, ``json.dumps``)."""

    function_id: UUID = field(default_factory=uuid4)
    name: str = ""
    qualified_name: str = ""
    function_type: FunctionType = FunctionType.FUNCTION
    file_path: str = ""
    line_start: int = 0
    line_end: int = 0
    parameters: list[str] = field(default_factory=list)
    return_type: str | None = None
    decorators: list[str] = field(default_factory=list)
    docstring: str | None = None
    complexity: float = 0.0
    line_count: int = 0
    is_async: bool = False
    calls: list[str] = field(default_factory=list)
    parent_class: str | None = None


@dataclass
class ClassInfo(_ToDict):
    """A class, its bases and methods."""

    class_id: UUID = field(default_factory=uuid4)
    name: str = ""
    qualified_name: str = ""
    file_path: str = ""
    line_start: int = 0
    line_end: int = 0
    base_classes: list[str] = field(default_factory=list)
    decorators: list[str] = field(default_factory=list)
    docstring: str | None = None
    methods: list[FunctionInfo] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    line_count: int = 0
    method_count: int = 0


@dataclass
class ModuleInfo(_ToDict):
    """A Python module. ``module_path`` is dotted, relative to the scanned root
    (``pkg/sub/mod.py`` -> ``pkg.sub.mod``; a package's ``__init__.py`` -> ``pkg.sub``);
    ``complexity_score`` is the mean complexity of its functions and methods;
    ``dependencies`` the top-level names it imports (``json``, ``pkg``)."""

    module_id: UUID = field(default_factory=uuid4)
    name: str = ""
    module_path: str = ""
    file_path: str = ""
    imports: list[ImportStatement] = field(default_factory=list)
    functions: list[FunctionInfo] = field(default_factory=list)
    classes: list[ClassInfo] = field(default_factory=list)
    docstring: str | None = None
    line_count: int = 0
    complexity_score: float = 0.0
    import_count: int = 0
    dependencies: set[str] = field(default_factory=set)
    last_modified: datetime | None = None
    is_package: bool = False

    def all_functions(self) -> list[FunctionInfo]:
        """Module-level functions, then the methods of every class."""
        return [*self.functions, *(m for c in self.classes for m in c.methods)]


@dataclass
class DependencyEdge(_ToDict):
    """``from_module`` imports ``to_module`` (both scanned modules); ``weight`` counts the imports."""

    from_module: str
    to_module: str
    import_type: ImportType = ImportType.IMPORT
    imported_names: list[str] = field(default_factory=list)
    is_circular: bool = False
    weight: int = 1


@dataclass
class CallEdge(_ToDict):
    """``caller`` calls ``callee`` (qualified names of scanned functions) ``call_count`` times."""

    caller: str
    callee: str
    call_count: int = 1
    line_number: int = 0


@dataclass
class CircularDependency(_ToDict):
    """Modules importing each other in a ring: ``cycle[0] -> cycle[1] -> ... -> cycle[0]``."""

    cycle: list[str]
    cycle_length: int = 0

    def __post_init__(self) -> None:
        self.cycle_length = len(self.cycle)


@dataclass
class TopologyMetrics(_ToDict):
    """Totals and rankings of a scan (see ``docs/topology.md`` for each definition)."""

    total_modules: int = 0
    total_functions: int = 0
    total_classes: int = 0
    total_lines: int = 0
    total_dependencies: int = 0
    circular_dependencies: int = 0
    max_depth: int = 0
    avg_complexity: float = 0.0
    max_complexity: float = 0.0
    avg_function_length: float = 0.0
    total_calls: int = 0
    most_complex_modules: list[str] = field(default_factory=list)
    most_complex_functions: list[str] = field(default_factory=list)
    most_imported_modules: list[str] = field(default_factory=list)
    most_dependent_modules: list[str] = field(default_factory=list)
    #: cycle listing stopped at the builder's ``max_cycles``; ``circular_dependencies`` is a floor
    cycles_truncated: bool = False


@dataclass
class RepositoryTopology(_ToDict):
    """The result of a scan: modules, import and call graphs, cycles and metrics."""

    topology_id: UUID = field(default_factory=uuid4)
    repository_path: str = ""
    commit_hash: str | None = None
    scanned_at: datetime = field(default_factory=_now)
    modules: dict[str, ModuleInfo] = field(default_factory=dict)
    module_dependencies: list[DependencyEdge] = field(default_factory=list)
    function_calls: list[CallEdge] = field(default_factory=list)
    circular_deps: list[CircularDependency] = field(default_factory=list)
    metrics: TopologyMetrics = field(default_factory=TopologyMetrics)
    graph_data: dict[str, Any] | None = None


@dataclass
class TokenConsumption(_ToDict):
    """Tokens, calls and cost recorded for one code component (function or module)."""

    component_id: UUID
    component_type: str
    component_name: str
    total_tokens: int = 0
    total_calls: int = 0
    avg_tokens_per_call: float = 0.0
    total_cost_usd: float = 0.0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass
class ComponentUsage(_ToDict):
    """A component's code facts with its recorded usage and derived figures.

    For a module, ``function_info`` describes the module (its name, path, mean complexity, lines).
    """

    function_info: FunctionInfo
    token_consumption: TokenConsumption
    tokens_per_line: float = 0.0
    cost_per_complexity: float = 0.0
    optimization_potential: float = 0.0


@dataclass
class TopologySnapshot(_ToDict):
    """A topology with the token figures recorded against it."""

    topology: RepositoryTopology
    snapshot_id: UUID = field(default_factory=uuid4)
    token_data: list[TokenConsumption] = field(default_factory=list)
    created_at: datetime = field(default_factory=_now)
    changes_from_previous: dict[str, Any] | None = None


@dataclass
class HotspotAnalysis(_ToDict):
    """Where the tokens go in the code, and what to look at first."""

    top_functions_by_tokens: list[ComponentUsage] = field(default_factory=list)
    top_modules_by_tokens: list[str] = field(default_factory=list)
    high_complexity_high_tokens: list[str] = field(default_factory=list)
    optimization_candidates: list[ComponentUsage] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    total_tokens_analyzed: int = 0
    #: percent of analysed tokens saved if the top 10 candidates used ``assumed_reduction`` fewer
    potential_savings: float = 0.0

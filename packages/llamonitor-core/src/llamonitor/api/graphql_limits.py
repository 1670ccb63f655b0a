"""GraphQL cost limits: Strawberry's depth, alias and token limiters, plus a per-request budget of
rows (the sum of the ``limit`` each list field asks for), all checked while the query is
validated, before any resolver runs; each refusal is a ``BAD_USER_INPUT`` error.

Tests: ``tests/api/test_hardening.py`` (alias bomb, depth bomb, budget).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    IntValueNode,
    ObjectValueNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from llamonitor.query.types import MAX_PAGE

#: deepest selection (introspection included)
MAX_DEPTH = 10
#: nesting of selection sets as written, introspection included (Strawberry's depth limiter skips
#: ``__schema`` / ``__type``; GraphiQL's introspection query nests 10 levels inside its fragments)
MAX_NESTING = 12
#: aliases in one document
MAX_ALIASES = 20
#: lexical tokens in one document
MAX_TOKENS = 2_000
#: rows one request may ask for, summed over its list fields
ROW_BUDGET = 20_000
#: rows a list field costs when its ``limit`` is not a literal (a variable counts as the maximum)
_DEFAULT_ROWS = {"events": 100, "sessions": 100, "traces": 1000, "traceEvents": 1000}


def _limit_of(node: FieldNode) -> int:
    """The rows ``node`` asks for: its literal ``limit`` (or ``filter: {limit}``), else the default."""
    default = _DEFAULT_ROWS[node.name.value]
    for arg in node.arguments or ():
        value = arg.value
        if arg.name.value == "filter" and isinstance(value, ObjectValueNode):
            for field in value.fields:
                if field.name.value == "limit":
                    return int(field.value.value) if isinstance(field.value, IntValueNode) else MAX_PAGE
        elif arg.name.value == "limit":
            return int(value.value) if isinstance(value, IntValueNode) else MAX_PAGE
    return default


def row_budget_rule(budget: int) -> type[ValidationRule]:
    """A validation rule refusing documents whose list fields ask for more than ``budget`` rows in all."""

    class RowBudget(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rows = 0
            self.reported = False

        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            if node.name.value not in _DEFAULT_ROWS:
                return
            self.rows += _limit_of(node)
            if self.rows > budget and not self.reported:
                self.reported = True
                self.report_error(GraphQLError(
                    f"query cost exceeds the budget of {budget} rows per request (the sum of the list fields' "
                    "limits); ask for fewer rows or page with filter.cursor", nodes=[node],
                    extensions={"code": "BAD_USER_INPUT"}))

    return RowBudget


def nesting_rule(limit: int) -> type[ValidationRule]:
    """A validation rule refusing selection sets nested deeper than ``limit`` in the document as written."""

    class Nesting(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.depth = 0
            self.reported = False

        def enter_selection_set(self, node: SelectionSetNode, *_args: Any) -> None:
            self.depth += 1
            if self.depth > limit and not self.reported:
                self.reported = True
                self.report_error(GraphQLError(f"query depth exceeds {limit} nested selections", nodes=[node],
                                               extensions={"code": "BAD_USER_INPUT"}))

        def leave_selection_set(self, *_args: Any) -> None:
            self.depth -= 1

    return Nesting


class TagRefusals(SchemaExtension):
    """Marks every parse or validation refusal ``extensions.code = "BAD_USER_INPUT"``: the client's fault."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = [*(self.execution_context.pre_execution_errors or []), *((result.errors or []) if result else [])]
        for error in errors:
            if error.original_error is None and not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}


def limit_extensions() -> list[Any]:
    """The schema extensions that bound a request's cost (see the module docstring)."""
    rules: list[type[ASTValidationRule]] = [row_budget_rule(ROW_BUDGET), nesting_rule(MAX_NESTING)]
    return [lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS), lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES), lambda: AddValidationRules(rules), TagRefusals]

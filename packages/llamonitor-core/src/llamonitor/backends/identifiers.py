"""SQL identifier validation: table and schema names come from config, so they must not inject."""

from __future__ import annotations

import re

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def validate_identifier(value: str, *, field: str = "identifier") -> str:
    """Return ``value`` if it is a plain SQL identifier (letters, digits, underscore; max 63).

    Raises ``ValueError`` naming the rule otherwise: identifiers are interpolated into DDL, so
    anything that would need quoting is refused rather than escaped.
    """
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ValueError(
            f"{field} must start with a letter or underscore and contain only letters, digits and "
            f"underscores (max 63 characters); got {value!r}"
        )
    return value

"""Which write failures mean "this data is refused" rather than "the destination is unavailable".

The writer retries and spills a batch a sink could not take; that is right for an outage and
wrong for a value the sink will never accept (a string its encoding cannot hold, a number its
JSON type refuses, a name longer than its column): retried, such a batch fails forever, and every
innocent event in it with it. When a failure is a data refusal, the writer instead splits the
batch until the refused event is alone and dead-letters only that one (``transport/isolate.py``).

A failure counts as a data refusal when the exception, or one it was raised from, is an encoding
or conversion error (``UnicodeError``, ``ValueError`` -- Arrow's ``ArrowInvalid`` among them --,
``TypeError``, ``OverflowError``), a PostgreSQL error of SQLSTATE class 22 (data exception),
23 (integrity constraint) or 54 (program limit exceeded: an index row too large), or a MySQL /
MariaDB error whose number is in :data:`MYSQL_DATA_ERRORS`, or a ClickHouse error whose code is in
:data:`CLICKHOUSE_DATA_ERRORS`. Connection and time-out errors never are.
"""

from __future__ import annotations

import re

#: MySQL / MariaDB error numbers that reject a value, not a connection
MYSQL_DATA_ERRORS = frozenset({
    1048,  # column cannot be null
    1264,  # out of range value
    1265,  # data truncated
    1292,  # truncated incorrect value
    1300,  # invalid character string
    1366,  # incorrect string value
    1367,  # illegal value
    1406,  # data too long for column
    3140,  # invalid JSON text
    4025,  # CHECK constraint failed (MariaDB's JSON columns are checked with JSON_VALID)
    4038,  # syntax error in JSON text
})
#: ClickHouse error codes that reject a value (the server's and chDB's messages start "Code: N.")
CLICKHOUSE_DATA_ERRORS = frozenset({
    6,    # CANNOT_PARSE_TEXT
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    469,  # VIOLATED_CONSTRAINT
})
_CLICKHOUSE_CODE = re.compile(r"\bCode: (\d+)\.")
_PG_DATA_CLASSES = ("22", "23", "54")
_DATA_TYPES = (UnicodeError, ValueError, TypeError, OverflowError, RecursionError)


def _refused(exc: BaseException) -> bool | None:
    """``True`` / ``False`` when this exception alone decides, ``None`` to look at its cause."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return False
    marked = getattr(exc, "refused_data", None)
    if isinstance(marked, bool):
        return marked
    sqlstate = getattr(exc, "sqlstate", None)  # asyncpg
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return sqlstate[:2] in _PG_DATA_CLASSES
    if type(exc).__module__.startswith("pymysql"):
        number = exc.args[0] if exc.args else None
        return isinstance(number, int) and number in MYSQL_DATA_ERRORS
    if type(exc).__module__.startswith(("chdb", "clickhouse_connect")):
        found = _CLICKHOUSE_CODE.search(str(exc))
        return found is not None and int(found.group(1)) in CLICKHOUSE_DATA_ERRORS
    if isinstance(exc, _DATA_TYPES):
        return True
    return None


def refused_data(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the sink refuses the data itself."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _refused(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or current.__context__
    return False

"""What the server backends share: schema checks, connection plumbing, write errors.

The flat layout they store lives in :mod:`llamonitor.schema.columns`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llamonitor.backends.base import StorageBackend
from llamonitor.backends.dsn import BackendConnectionError, mask_dsn, scrub
from llamonitor.backends.identifiers import validate_identifier
from llamonitor.schema.columns import COLUMN_BY_NAME, COLUMN_NAMES, SEED_TIMESTAMP_COLUMN, Column
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import SCHEMA_VERSION

logger = logging.getLogger("llamonitor")

COMMENT_PREFIX = "llamonitor schema_version="


def parse_comment_version(comment: str | None) -> int | None:
    """The schema version recorded in a table comment, or ``None``."""
    if not comment:
        return None
    match = re.search(re.escape(COMMENT_PREFIX) + r"(\d+)", comment)
    return int(match.group(1)) if match else None


class MissingDatabaseError(ValueError):
    """The database named in the DSN does not exist and ``create_database`` is off (not retried)."""


class SchemaMismatchError(RuntimeError):
    """An existing table is not the layout this llamonitor writes; nothing was written to it."""


#: columns each schema version added: a table of an older version gains them (``ADD COLUMN``, all
#: nullable, so stored rows read back with ``None``) when a writer starts on it, then its comment
#: records the new version. Nothing else is ever changed in an existing table.
ADDED_COLUMNS: dict[int, tuple[str, ...]] = {2: ("response_model", "system_instructions")}
#: the oldest schema version an existing table may have and still be migrated
OLDEST_MIGRATABLE = 1


@dataclass(frozen=True)
class Migration:
    """What makes an existing table of ``from_version`` current: ``add`` these columns, then
    record :data:`SCHEMA_VERSION` in the table comment."""

    from_version: int
    add: tuple[Column, ...]

    def comment(self) -> str:
        """The table comment to set once the columns exist."""
        return f"{COMMENT_PREFIX}{SCHEMA_VERSION}"


def check_existing_table(where: str, comment: str | None, columns: Sequence[str]) -> Migration | None:
    """``None`` when a table is exactly our layout, a :class:`Migration` when it is an older version
    that only lacks the columns later versions added; raise :class:`SchemaMismatchError` naming
    every difference otherwise."""
    version = parse_comment_version(comment)
    problems: list[str] = []
    present = {c.lower() for c in columns}
    missing = [c for c in COLUMN_NAMES if c not in present]
    addable: set[str] = set()
    if version is None:
        problems.append("it carries no llamonitor schema_version (was it created by something else?)")
    elif version > SCHEMA_VERSION or version < OLDEST_MIGRATABLE:
        problems.append(f"its schema_version is {version}, this llamonitor writes version {SCHEMA_VERSION}")
    else:
        addable = {c for v in range(version + 1, SCHEMA_VERSION + 1) for c in ADDED_COLUMNS.get(v, ())}
    expected = set(COLUMN_NAMES) | {"start_time", "end_time", SEED_TIMESTAMP_COLUMN}
    extra = sorted(c for c in present if c not in expected)
    unfixable = [c for c in missing if c not in addable]
    if unfixable:
        problems.append(f"missing column(s): {', '.join(unfixable)}")
    if extra:
        problems.append(f"unexpected column(s): {', '.join(extra)}")
    if problems:
        raise SchemaMismatchError(
            f"table {where} does not match llamonitor's event schema v{SCHEMA_VERSION}: " + "; ".join(problems)
            + ". Point table_name at a new table, or migrate/drop the old one; nothing was written.")
    assert version is not None
    if version == SCHEMA_VERSION and not missing:
        return None
    return Migration(version, tuple(COLUMN_BY_NAME[c] for c in missing))


class ServerBackend(StorageBackend):
    """Shared plumbing of the server backends: identifiers, DSN masking, lazy connection.

    ``StorageConfig.options["on_connect_error"]``: ``"raise"`` (default) makes ``initialize``
    fail with a clear :class:`BackendConnectionError`; ``"spill"`` lets it succeed, logs a
    warning, and connects on the first write (failed writes are retried, then spilled and
    replayed by the writer, so nothing is lost while the server is away).
    """

    batch_layout = "compact"

    def __init__(self, config: StorageConfig) -> None:
        if not config.connection_string:
            raise ValueError(f"storage.connection_string is required for backend {self.name!r}")
        self.config = config
        self.dsn: str = config.connection_string
        self.table = validate_identifier(config.table_name, field="storage.table_name")
        self.schema = (validate_identifier(config.schema_name, field="storage.schema_name")
                       if config.schema_name else None)
        mode = str(config.options.get("on_connect_error", "raise"))
        if mode not in ("raise", "spill"):
            raise ValueError(f"storage.options['on_connect_error'] must be 'raise' or 'spill'; got {mode!r}")
        self.on_connect_error = mode
        self.ready = False
        self.rows_written = 0

    @property
    def masked_dsn(self) -> str:
        """The connection string with its password replaced by ``***``."""
        return mask_dsn(self.dsn)

    def error(self, action: str, exc: BaseException) -> BackendConnectionError:
        """A connection error for ``action`` naming the masked DSN (never the password)."""
        detail = scrub(f"{type(exc).__name__}: {exc}", self.dsn)
        return BackendConnectionError(f"{self.name} backend: cannot {action} {self.masked_dsn}: {detail}")

    async def setup(self) -> None:
        """Connect and create / check the table (implemented per backend)."""
        raise NotImplementedError

    async def initialize(self) -> None:
        try:
            await self.setup()
        except (SchemaMismatchError, MissingDatabaseError):
            raise
        except Exception as exc:
            err = exc if isinstance(exc, BackendConnectionError) else self.error("connect to", exc)
            if self.on_connect_error == "spill":
                logger.warning("llamonitor: %s; batches will be retried and spilled until it answers", err)
                return
            raise err from None
        self.ready = True

    async def ensure_ready(self) -> None:
        """Connect / create the table now if ``initialize`` could not."""
        if not self.ready:
            try:
                await self.setup()
            except SchemaMismatchError:
                raise
            except Exception as exc:
                raise (exc if isinstance(exc, BackendConnectionError) else self.error("connect to", exc)) from None
            self.ready = True

    async def health(self) -> dict[str, Any]:
        return {"backend": self.name, "dsn": self.masked_dsn, "table": self.table, "ready": self.ready,
                "rows_written": self.rows_written}


class StorageWriteError(RuntimeError):
    """A batch could not be written (the message is scrubbed of passwords); the writer retries.

    ``refused_data`` says the server refused a value (see :mod:`llamonitor.backends.errors`):
    the writer then isolates the refused event instead of retrying the batch.
    """

    def __init__(self, message: str, *, refused_data: bool = False) -> None:
        super().__init__(message)
        self.refused_data = refused_data


"""Connection strings: parsing helpers and masking (a password never reaches a log or an error)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)")


def mask_dsn(dsn: str | None) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``.

    Query-string passwords (``?password=...``) are masked too. Never raises.
    """
    if not dsn:
        return ""
    masked = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}***{m.group('tail')}", dsn)
    return re.sub(r"(?i)((?:password|passwd|pwd)=)[^&\s]*", r"\1***", masked)


def dsn_password(dsn: str | None) -> str | None:
    """The password in ``dsn`` (URL-decoded), or ``None``."""
    if not dsn:
        return None
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return None
    return unquote(password) if password else None


def scrub(text: str, dsn: str | None) -> str:
    """``text`` with the DSN, and its password in any form, replaced by their masked form."""
    if not dsn:
        return text
    out = text.replace(dsn, mask_dsn(dsn))
    password = dsn_password(dsn)
    if password:
        raw = _URL_PASSWORD.search(dsn)
        for secret in {password, raw.group("pw") if raw else password}:
            if secret:
                out = out.replace(secret, "***")
    return mask_dsn(out)


def strip_driver(dsn: str, scheme: str) -> str:
    """``postgresql+asyncpg://...`` -> ``<scheme>://...`` (SQLAlchemy-style driver suffixes)."""
    parts = urlsplit(dsn)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


class BackendConnectionError(ConnectionError):
    """A storage server could not be reached or refused us; the message names the masked DSN."""

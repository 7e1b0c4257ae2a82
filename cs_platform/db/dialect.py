"""One ``Dialect`` per supported database; ``dialect()`` gives the current connection's."""

from typing import Any

from django.db import NotSupportedError, connection

from .base import Dialect, table_name
from .postgresql import PostgreSQL
from .sqlite import SQLite

__all__ = ["Dialect", "dialect", "table_name"]

_DIALECTS = {d.vendor: d() for d in (PostgreSQL, SQLite)}


def dialect(db_connection: Any = None) -> Dialect:
    """The dialect of ``db_connection`` (the default connection if None)."""
    vendor = (db_connection or connection).vendor
    try:
        return _DIALECTS[vendor]
    except KeyError:
        raise NotSupportedError(
            f"cs-platform supports PostgreSQL and SQLite, not {vendor}"
        ) from None

"""Named SQL statements kept in ``.sql`` files beside the app that owns the tables."""

from functools import cache
from importlib import import_module
from pathlib import Path

from django.db import connection


@cache
def _read(package: str, vendor: str, name: str) -> str:
    root = Path(import_module(package).__file__).resolve().parent / "sql"
    for path in (root / vendor / f"{name}.sql", root / f"{name}.sql"):
        if path.is_file():
            return path.read_text().strip().rstrip(";")
    raise FileNotFoundError(f"no SQL statement {name!r} for {vendor} under {root}")


def load_sql(package: str, name: str) -> str:
    """The text of statement ``name`` of ``package`` (e.g. ``"playbooks"``) for the current
    database: ``<package>/sql/<vendor>/<name>.sql``, else ``<package>/sql/<name>.sql``.
    Placeholders are ``%s`` (DB-API), and ``{name}`` ones are the caller's to ``format``."""
    return _read(package, connection.vendor, name)

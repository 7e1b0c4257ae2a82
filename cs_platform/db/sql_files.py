"""Named SQL statements kept in ``.sql`` files beside the app that owns the tables.

A file opens with a comment for readers (what the statement returns, its ``{fields}`` and
``%s`` parameters in order, and why it is written so). That comment is not sent to the
database: query logs stay short, statements still begin with SELECT / WITH / INSERT (what
query counters and the benchmarks look for), and a ``%`` or ``{`` in prose cannot break
the placeholders."""

from functools import cache
from importlib import import_module
from pathlib import Path

from django.db import connection


@cache
def _read(package: str, vendor: str, name: str) -> str:
    root = Path(import_module(package).__file__).resolve().parent / "sql"
    for path in (root / vendor / f"{name}.sql", root / f"{name}.sql"):
        if path.is_file():
            lines = path.read_text().strip().splitlines()
            while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
                lines.pop(0)
            return "\n".join(lines).rstrip(";")
    raise FileNotFoundError(f"no SQL statement {name!r} for {vendor} under {root}")


def load_sql(package: str, name: str, **fields: str) -> str:
    """The text of statement ``name`` of ``package`` (e.g. ``"playbooks"``) for the current
    database: ``<package>/sql/<vendor>/<name>.sql``, else ``<package>/sql/<name>.sql``,
    without its opening comment. ``fields`` fill its ``{name}`` placeholders (table names,
    fragments); values always travel as ``%s`` parameters."""
    text = _read(package, connection.vendor, name)
    return text.format(**fields) if fields else text

"""The dialect layer: everything that differs between PostgreSQL and the embedded SQLite.

Code elsewhere asks ``dialect()`` for the SQL fragment or behaviour it needs and never
tests ``connection.vendor`` itself. Statements too long for a fragment live in ``.sql``
files next to the app that owns the tables (``<app>/sql/<vendor>/<name>.sql``, or
``<app>/sql/<name>.sql`` when one text serves both) and are read with ``load_sql``.
"""

from .dialect import Dialect, dialect, table_name
from .expressions import DaysUntil
from .fields import IntegerListField
from .sql_files import load_sql

__all__ = ["DaysUntil", "Dialect", "IntegerListField", "dialect", "load_sql", "table_name"]

"""Model fields whose column type differs by database."""

from typing import Any

from django.db import models

from .dialect import dialect


class IntegerListField(models.Field):
    """A list of integers that SQL writes and compares as one value (``Dialect.
    integer_list``): an integer array on PostgreSQL, text on SQLite. Not edited in forms;
    Python reads it as the driver gives it (a list, or the text)."""

    description = "A list of integers compared as one value"

    def db_type(self, connection: Any) -> str:
        return dialect(connection).integer_list_type

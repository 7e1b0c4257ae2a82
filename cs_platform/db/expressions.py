"""Query expressions whose SQL differs by database."""

from datetime import date
from typing import Any

from django.db.models import Expression, F, IntegerField, Value

from .dialect import dialect


class DaysUntil(Expression):
    """``date_column - day`` in whole days, as an integer, in SQL."""

    output_field = IntegerField()

    def __init__(self, column: str, day: date) -> None:
        super().__init__()
        self.column = F(column)
        self.day = Value(day)

    def get_source_expressions(self) -> list:
        return [self.column, self.day]

    def set_source_expressions(self, exprs: list) -> None:
        self.column, self.day = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        column_sql, column_params = compiler.compile(self.column)
        day_sql, day_params = compiler.compile(self.day)
        sql = dialect(connection).days_until(column_sql, day_sql)
        return sql, [*column_params, *day_params]

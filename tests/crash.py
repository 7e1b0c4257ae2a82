"""A simulated crash inside the database: a trigger that fails every insert into a table,
so a service dies half-way through its writes (after some statements ran), whatever its
Python internals. Works on PostgreSQL and SQLite."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def inserts_fail(table: str) -> Iterator[None]:
    """While active, any INSERT into ``table`` raises a DatabaseError."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION test_simulated_crash() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'simulated crash'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER test_simulated_crash BEFORE INSERT ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION test_simulated_crash()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER test_simulated_crash BEFORE INSERT ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'simulated crash'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER test_simulated_crash ON {table}")
            else:
                cursor.execute("DROP TRIGGER test_simulated_crash")

"""The scratch PostgreSQL database of a benchmark: named by a URL, dropped and re-created
(or created when missing), then Django set up on it and migrated.

Every benchmark script goes through here, so the guard is in one place: the development
database ``cs_platform``, the server's ``postgres`` and the template databases are never
dropped, created over or migrated, whatever a script is told. psycopg, dj_database_url and
Django are imported when first needed, so a script's ``--help`` works without them.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROTECTED_DATABASES = frozenset({"cs_platform", "postgres", "template0", "template1"})
LOCAL_SERVER = "postgres://postgres@127.0.0.1:5432"


class ProtectedDatabaseError(ValueError):
    """A benchmark was pointed at a database it must not drop or fill."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def url_beside_environment(parser: argparse.ArgumentParser, name: str) -> str:
    """The URL of the database ``name`` on the server of ``DATABASE_URL`` (by default the
    local one); a ``DATABASE_URL`` that is not PostgreSQL is a usage error."""
    base = os.environ.get("DATABASE_URL", f"{LOCAL_SERVER}/cs_platform")
    if not is_postgres_url(base):
        parser.error("DATABASE_URL must point to a PostgreSQL server")
    return base.rsplit("/", 1)[0] + f"/{name}"


def database_name(url: str) -> str:
    import dj_database_url

    return dj_database_url.parse(url)["NAME"]


def refuse_protected(parser: argparse.ArgumentParser, name: str) -> None:
    """A usage error for a protected database, before anything is touched."""
    if name in PROTECTED_DATABASES:
        parser.error(f"refusing to use the database {name!r}; use a scratch database")


def exists(url: str) -> bool:
    with _server_connection(url) as server:
        row = server.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return row is not None


def recreate(url: str) -> None:
    """Drop the database of ``url`` (closing its sessions) and create it empty."""
    name = _scratch_name(url)
    with _server_connection(url) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')


def create_missing(url: str) -> bool:
    """Create the database of ``url`` unless it exists; True when it was created."""
    name = _scratch_name(url)
    if exists(url):
        return False
    with _server_connection(url) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    return True


def account_count(url: str) -> int | None:
    """The number of accounts in the database of ``url``: None when the database or its
    account table is missing (not seeded)."""
    import psycopg

    if not exists(url):
        return None
    with _connection(url, database_name(url)) as db:
        try:
            return db.execute("SELECT count(*) FROM customers_account").fetchone()[0]
        except psycopg.Error:
            return None


def django_setup(url: str, *, settings_module: str = "cs_platform.settings.local") -> None:
    """Point Django at the database of ``url`` and set it up (``settings_module`` unless
    ``DJANGO_SETTINGS_MODULE`` is set)."""
    _scratch_name(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate() -> None:
    """Apply every migration to the database Django was set up on."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# The server settings most likely to move these figures (docs/benchmarks.md compares the
# defaults with a tuned server): each bench prints them, so a figure says what it ran on.
SERVER_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "effective_cache_size",
)


def server_settings(url: str) -> str:
    """``name=value`` of ``SERVER_SETTINGS`` on the server of ``url``, on one line."""
    with _server_connection(url) as connection:
        rows = connection.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) "
            "ORDER BY array_position(%s, name::text)",
            [list(SERVER_SETTINGS), list(SERVER_SETTINGS)],
        ).fetchall()
    return " ".join(f"{name}={value}" for name, value in rows)


def prepare(url: str, *, fresh: bool, settings_module: str = "cs_platform.settings.local") -> None:
    """Re-create the database of ``url`` when ``fresh``, set Django up on it and migrate."""
    print(f"PostgreSQL: {server_settings(url)}", flush=True)
    if fresh:
        recreate(url)
    django_setup(url, settings_module=settings_module)
    migrate()


def seed(*, accounts: int, seed: int) -> None:
    """``seed_demo`` with a line before it and the time it took after."""
    from demo.accounts import seed_demo

    print(f"Seeding {accounts:,} demo accounts (seed {seed}) ...", flush=True)
    started = time.perf_counter()
    seed_demo(accounts=accounts, seed=seed)
    print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)


def analyze() -> None:
    """Fresh planner statistics, as autovacuum would have them on a live database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _scratch_name(url: str) -> str:
    name = database_name(url)
    if name in PROTECTED_DATABASES:
        raise ProtectedDatabaseError(f"refusing to use the database {name!r}")
    return name


def _server_connection(url: str) -> Any:
    """An autocommit connection to the server's ``postgres`` database, for CREATE and DROP."""
    return _connection(url, "postgres", autocommit=True)


def _connection(url: str, dbname: str, *, autocommit: bool = False) -> Any:
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(url)
    return psycopg.connect(
        dbname=dbname,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        autocommit=autocommit,
    )

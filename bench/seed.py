"""Benchmark ``seed_demo`` on a scratch PostgreSQL database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cs_bench_seed \\
        .venv/bin/python bench/seed.py [--accounts 100000] [--seed 1]

The database named in DATABASE_URL is dropped and re-created (then migrated) before the
run, so it must be a scratch database; ``cs_platform`` (the development database) is
refused. Prints the elapsed time and rows per second.
"""

import argparse
import os
import sys
import time

import scratch_db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.accounts <= 0:
        parser.error("--accounts: must be a positive number")

    url = os.environ.get("DATABASE_URL", "")
    if not scratch_db.is_postgres_url(url):
        parser.error("DATABASE_URL must point to a scratch PostgreSQL database")
    name = scratch_db.database_name(url)
    scratch_db.refuse_protected(parser, name)
    print(f"Migrating scratch database {name}...", flush=True)
    scratch_db.prepare(url, fresh=True)
    from django.db import connection

    from demo.accounts import seed_demo

    print(f"Seeding {args.accounts:,} accounts (seed {args.seed})...", flush=True)
    started = time.perf_counter()
    result = seed_demo(accounts=args.accounts, seed=args.seed, out=sys.stdout)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    print(
        f"seed_demo: {result.accounts:,} accounts, {result.contracts:,} contracts, "
        f"{result.assignments:,} assignments = {result.rows:,} rows in {elapsed:.1f} s "
        f"({result.rows / elapsed:,.0f} rows/s, {result.accounts / elapsed:,.0f} accounts/s); "
        f"database size {size}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

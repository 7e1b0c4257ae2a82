"""Profile one health run on a database ``bench/health.py`` built: each statement timed,
optionally with its ``EXPLAIN (ANALYZE, BUFFERS)`` (which runs it), all in one transaction
that is rolled back, so the database is left as it was and runs can be repeated.

    .venv/bin/python bench/health_profile.py --db cs_bench_health full|batch [--explain]

``full``: a full run (every account); ``batch``: the bench's 10,000 changed accounts (their
open tickets moved, then rescored as a sweep batch would). Run it under the heavy lock.
"""

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

import scratch_db

# This file is in bench/: its folder must not hide the ``health`` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(scratch_db.ROOT))

TODAY = date(2026, 11, 22)
WRITES = ("INSERT", "UPDATE", "WITH", "DELETE")


class Rollback(Exception):
    """Raised to leave the profiled transaction without committing it."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["full", "batch"])
    parser.add_argument("--db", default="cs_bench_health")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CS_TODAY"] = TODAY.isoformat()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings.test")
    scratch_db.django_setup(f"{scratch_db.LOCAL_SERVER}/{args.db}")
    from django.conf import settings
    from django.db import connection, transaction
    from django.db.models import F

    from customers.models import Account
    from health.engine import health_recompute

    settings.CS_TODAY = TODAY
    timings: list[tuple[float, str]] = []

    def wrapper(execute, sql, params, many, context):
        head = " ".join(sql.split())[:70]
        started = time.perf_counter()
        if args.explain and sql.lstrip().upper().startswith(WRITES):
            result = execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params, many, context)
            plan = "\n".join(row[0] for row in context["cursor"].fetchall())
            print("=" * 80, sql, "---", plan, sep="\n", flush=True)
        else:
            result = execute(sql, params, many, context)
        timings.append((time.perf_counter() - started, head))
        return result

    try:
        with transaction.atomic():
            accounts = None
            if args.mode == "batch":
                count = Account.objects.count()
                ids = list(
                    Account.objects.filter(id__gt=count // 3)
                    .order_by("id")
                    .values_list("id", flat=True)[:10_000]
                )
                Account.objects.filter(id__in=ids).update(open_tickets=(F("open_tickets") + 7) % 15)
                accounts = Account.objects.filter(id__in=ids)
            with connection.execute_wrapper(wrapper):
                started = time.perf_counter()
                result = health_recompute(accounts=accounts, today=TODAY)
                total = time.perf_counter() - started
            print(f"{result} in {total:.2f} s")
            for seconds, head in timings:
                if seconds >= 0.005:
                    print(f"  {seconds:7.3f} s  {head}")
            raise Rollback
    except Rollback:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Profile one 100,000-row request of ``POST /api/usage/daily/`` on a database
``bench/usage.py`` built: the time of each phase (the test client's request, each SQL
statement, the COPY, the commit or rollback) and optionally a cProfile of the process,
for a new day's batch (the day after the bench's today, for which no row is stored).

    .venv/bin/python bench/usage_profile.py --db cs_bench_usage [--cprofile] [--commit]

Without ``--commit`` the request's transaction is rolled back (the database keeps no row
of it, only dead ones until the next vacuum); with it, the rows are committed and then
deleted again. Run it under the heavy lock.
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import scratch_db

# This file is in bench/: its folder must not hide the ``usage`` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(scratch_db.ROOT))

TODAY = date(2026, 11, 22)
ROWS = 100_000


class Rollback(Exception):
    """Raised to leave the profiled request's transaction without committing it."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="cs_bench_usage")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--commit", action="store_true")
    parser.add_argument("--offset", type=int, default=0, help="first account (by id order)")
    parser.add_argument(
        "--drop-index",
        help="an index of the daily table dropped inside the rolled-back transaction first",
    )
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    day = TODAY + timedelta(days=1)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CS_TODAY"] = day.isoformat()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings.test")
    os.chdir(scratch_db.ROOT)
    scratch_db.django_setup(f"{scratch_db.LOCAL_SERVER}/{args.db}")
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from rest_framework.test import APIClient

    from cs_platform.db import dialect
    from customers.models import Account
    from usage.models import UsageMetric

    settings.CS_TODAY = day
    settings.ALLOWED_HOSTS = ["*"]
    timings: list[tuple[float, str]] = []

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        result = execute(sql, params, many, context)
        timings.append((time.perf_counter() - started, " ".join(sql.split())[:90]))
        return result

    db = type(dialect())
    copy_text = db.copy_text

    def timed_copy(self, cursor, table, columns, text):
        # The texts are made while the COPY runs (usage.ingest sends them in chunks), so
        # its time includes making them.
        size = 0

        def counted():
            nonlocal size
            for part in [text] if isinstance(text, str) else text:
                size += len(part)
                yield part

        started = time.perf_counter()
        copy_text(self, cursor, table, columns, counted())
        seconds = time.perf_counter() - started
        timings.append((seconds, f"COPY {table} ({size:,} chars, made meanwhile)"))

    db.copy_text = timed_copy
    manager, _ = User.objects.get_or_create(username="bench-profiler", is_superuser=True)
    client = APIClient()
    client.force_authenticate(manager)
    external_ids = list(Account.objects.order_by("pk").values_list("external_id", flat=True))
    keys = list(UsageMetric.objects.order_by("pk").values_list("key", flat=True))
    per_request = ROWS // len(keys)
    chosen = external_ids[args.offset : args.offset + per_request]
    body = json.dumps(
        [
            {"account": e, "metric": k, "day": day.isoformat(), "value": (i * 31 + j) % 17}
            for i, e in enumerate(chosen)
            for j, k in enumerate(keys)
        ]
    )
    profiler = cProfile.Profile() if args.cprofile else None
    print(f"load average {os.getloadavg()[0]:.2f}; {len(chosen) * len(keys):,} rows of {day}")
    started = time.perf_counter()
    try:
        with transaction.atomic():
            if args.drop_index:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP INDEX "{args.drop_index}"')
            with connection.execute_wrapper(wrapper):
                if profiler:
                    profiler.enable()
                response = client.post("/api/usage/daily/", body, content_type="application/json")
                if profiler:
                    profiler.disable()
            assert response.status_code == 200, response.content[:300]
            request = time.perf_counter() - started
            if not args.commit:
                raise Rollback
    except Rollback:
        pass
    total = time.perf_counter() - started
    print(f"request {request:.3f} s, with {'commit' if args.commit else 'rollback'} {total:.3f} s")
    print(f"statements {sum(t for t, _ in timings):.3f} s:")
    for seconds, head in timings:
        if seconds > 0.002:
            print(f"  {seconds:.3f}  {head}")
    if args.commit:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM usage_dailyusage WHERE day = %s", [day])
            cursor.execute("TRUNCATE customers_pendingevaluation")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

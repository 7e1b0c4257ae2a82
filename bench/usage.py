"""Benchmark: product usage on PostgreSQL (issue 17) — ingestion through the API, usage
rules over every account, a day's data reaching 20 usage segments, the daily slide.

Uses its own scratch database (default ``cs_bench_usage``, dropped and re-created):

    .venv/bin/python bench/usage.py [--accounts 20000] [--metrics 5] [--days 120]
        [--segments 20] [--density 0.6] [--db cs_bench_usage] [--clients N]

The history (accounts × metrics × days, a value on ``density`` of the days) is loaded with
one INSERT ... SELECT (not measured: it stands for months of past ingestion), and the
window values are built from it (a full rebuild, timed but not a target). Then, each
measured around the whole call:

- ingest: one day's batch for every account and metric (accounts × metrics rows, in
  requests of at most 100,000 rows) as POST /api/usage/daily/ through Django's test client
  (JSON parsing, validation, COPY + one upsert, the commit) → rows/s; with ``--clients
  N``, over HTTP to gunicorn, N requests at once (``usage_http``);
- events: the same number of events as POST /api/usage/events/ → events/s;
- the sweep that brings that day's data into the usage segments (the accounts marked by
  the ingestion, evaluated against every segment);
- a usage rule over all accounts (``usage.logins.days_active_30d < 5`` and
  ``arr >= 50000``), compiled to SQL (a lookup of each account's window values);
- the daily slide: the day-change job moving the window values to tomorrow, then
  recomputing the segments for tomorrow (the two times, and their sum);
- peak RSS of the process.
"""

import argparse
import gc
import json
import os
import resource
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import scratch_db
import usage_http

# This file is bench/usage.py: its folder must not hide the ``usage`` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(scratch_db.ROOT))

TODAY = date(2026, 11, 22)
MAX_ROWS = 100_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--density", type=float, default=0.6)
    parser.add_argument("--db", default="cs_bench_usage")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="post the day's batch over HTTP to gunicorn, this many requests at once "
        "(default: in process, one after another)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the history of an earlier run with as many accounts (loading it takes "
        "minutes): drop only what the run wrote (today's rows, segments, window values)",
    )
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    if args.db in ("cs_bench_recompute", "cs_bench_renewals"):
        parser.error("that scratch database belongs to another benchmark")
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """The process's resident memory now (Linux), unlike ``peak_rss_mb``'s high mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def backend_cpu_seconds() -> float | None:
    """CPU time used so far by this process's PostgreSQL backend (same machine), or None."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, work):
    """Run ``work``; print its wall time and the CPU time it used here and in the database
    backend (on a busy machine the CPU time is what it would take on an idle one, less
    the waits for the disk)."""
    started, cpu, db_cpu = time.perf_counter(), time.process_time(), backend_cpu_seconds()
    result = work()
    seconds = time.perf_counter() - started
    used = time.process_time() - cpu
    db_used = backend_cpu_seconds()
    db = f" + {db_used - db_cpu:.2f} s in PostgreSQL" if db_cpu is not None and db_used else ""
    print(f"  {label}: {seconds:.2f} s (CPU {used:.2f} s here{db})", flush=True)
    return seconds, result


def load_history(args: argparse.Namespace) -> int:
    from django.db import connection

    from customers.models import Account
    from usage.models import DailyUsage, UsageMetric

    metrics = [
        UsageMetric(key="logins" if n == 0 else f"metric_{n}", label=f"Metric {n}")
        for n in range(args.metrics)
    ]
    UsageMetric.objects.bulk_create(metrics)
    Account.objects.bulk_create(
        (
            Account(
                name=f"Bench {n}",
                external_id=f"bench-{n:07d}",
                plan=("free", "starter", "pro", "enterprise")[n % 4],
                arr=Decimal((n * 7919) % 300_000),
            )
            for n in range(args.accounts)
        ),
        batch_size=5000,
    )
    first = TODAY - timedelta(days=args.days)
    table = DailyUsage._meta.db_table
    with connection.cursor() as cursor:
        # Months of daily batches, day by day (the order daily ingestion writes them in),
        # loaded as PostgreSQL's manual advises: into the table without its indexes, which
        # are built afterwards.
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        cursor.execute("DROP INDEX usage_daily_account")
        # Yesterday and earlier: today is what the measured ingestion sends.
        cursor.execute(
            f"""
            INSERT INTO {table} (account_id, metric_id, day, value)
            SELECT a.id, m.id, d::date, floor(random() * 20)::numeric
            FROM generate_series(%s::date, %s::date, interval '1 day') d
            CROSS JOIN usage_usagemetric m CROSS JOIN customers_account a
            WHERE random() < %s * (a.id %% 10) / 4.5  -- from idle to daily users
            """,
            [first, TODAY - timedelta(days=1), args.density],
        )
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (metric_id, day, account_id)")
        cursor.execute(f"CREATE INDEX usage_daily_account ON {table} (account_id)")
        cursor.execute("VACUUM ANALYZE")
    return DailyUsage.objects.count()


def reset_to_history() -> int:
    """Back to the state after ``load_history``: what a run wrote is dropped."""
    from django.db import connection

    from usage.models import DailyUsage

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM usage_dailyusage WHERE day >= %s", [TODAY])
        cursor.execute(
            "TRUNCATE segments_segment, customers_pendingevaluation, usage_usagefeatures, "
            "usage_usagefeaturestate, usage_usageeventbatch CASCADE"
        )
        cursor.execute(
            "DELETE FROM authtoken_token WHERE user_id IN "
            "(SELECT id FROM auth_user WHERE username = 'bench-manager')"
        )
        cursor.execute("DELETE FROM auth_user WHERE username = 'bench-manager'")
        cursor.execute("VACUUM ANALYZE")
    return DailyUsage.objects.count()


FEATURES_COPY = "bench_usage_features_copy"


def features_save() -> None:
    """Keep a copy of the window values as of the bench's today (a rebuild takes minutes),
    for the next ``--reuse`` run to restore."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FEATURES_COPY}")
        cursor.execute(f"CREATE TABLE {FEATURES_COPY} AS TABLE usage_usagefeatures")


def features_restore() -> bool:
    """The window values of an earlier run's rebuild put back (the table emptied and
    refilled in key order, as the rebuild writes it), as of the bench's today; False when
    there is no copy."""
    from django.db import connection

    from usage.features import _state_set
    from usage.models import UsageMetric

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [FEATURES_COPY])
        if cursor.fetchone()[0] is None:
            return False
        cursor.execute("TRUNCATE usage_usagefeatures")
        cursor.execute(
            f"INSERT INTO usage_usagefeatures SELECT * FROM {FEATURES_COPY} "
            "ORDER BY metric_id, account_id"
        )
        cursor.execute("ANALYZE usage_usagefeatures")
    _state_set(list(UsageMetric.objects.values_list("pk", flat=True)), TODAY)
    return True


def create_segments(count: int) -> list:
    from segments.services import segment_create

    windows = (7, 14, 30, 60, 90)
    kinds = ("days_active", "sum", "avg", "max", "change")
    created = []
    for n in range(count):
        days, kind = windows[n % 5], kinds[(n // 5) % 5]
        field = f"usage.logins.{kind}_{days}d"
        threshold = {"days_active": days // 2, "sum": days * 5, "avg": 8, "max": 15}.get(kind, 0)
        op = "lt" if n % 2 else "gte"
        rule = {"all": [{"field": field, "op": op, "value": threshold}]}
        if n % 3 == 0:
            rule["all"].append({"field": "arr", "op": "gte", "value": 50000})
        created.append(segment_create(name=f"Usage {n}: {field} {op}", rule=rule, publish=True))
    return created


def main() -> int:
    args = parse_args()
    url = f"{scratch_db.LOCAL_SERVER}/{args.db}"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CS_TODAY"] = TODAY.isoformat()
    print(
        f"usage bench: {args.accounts:,} accounts x {args.metrics} metrics x {args.days} days"
        f" (density {args.density}), {args.segments} segments, database {args.db}",
        flush=True,
    )
    os.chdir(scratch_db.ROOT)  # (something on the way adds the working folder to the path)
    reuse = args.reuse and scratch_db.account_count(url) == args.accounts
    scratch_db.prepare(url, fresh=not reuse, settings_module="cs_platform.settings.test")
    from django.conf import settings
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from customers.models import Account, PendingEvaluation
    from rules import rule_queryset
    from segments.engine import (
        day_change,
        segments_evaluate_changed_accounts,
        segments_recompute_all,
    )
    from usage.features import usage_features_rebuild, usage_features_slide

    results: dict[str, float] = {}
    settings.ALLOWED_HOSTS = ["*"]
    settings.CS_TODAY = TODAY
    if reuse:
        stored = reset_to_history()
        print(f"  history of an earlier run kept: {stored:,} daily rows", flush=True)
    else:
        seconds, stored = timed("history loaded (not a measure)", lambda: load_history(args))
        print(f"    {stored:,} daily rows", flush=True)
    if reuse and features_restore():
        print("  window values restored from the copy of an earlier run's rebuild", flush=True)
    else:
        seconds, _ = timed(
            "window values built for every account and metric (a full rebuild, not a measure)",
            lambda: usage_features_rebuild(today=TODAY),
        )
        results["features rebuild s"] = seconds
        features_save()
    timed("20 usage segments created", lambda: create_segments(args.segments))
    timed("first full recompute (not a measure)", lambda: segments_recompute_all(today=TODAY))
    PendingEvaluation.objects.all().delete()

    manager = User.objects.create(username="bench-manager", is_superuser=True)
    client = APIClient()
    client.force_authenticate(manager)
    external_ids = list(Account.objects.order_by("pk").values_list("external_id", flat=True))
    keys = ["logins", *(f"metric_{n}" for n in range(1, args.metrics))]
    day = TODAY.isoformat()
    daily = [
        {"account": e, "metric": k, "day": day, "value": (i * 31 + j) % 17}
        for i, e in enumerate(external_ids)
        for j, k in enumerate(keys)
    ]

    def bodies(rows: list[dict]) -> list[str]:
        """The JSON bodies of the requests (made before the clock starts: the client's
        work, not the server's)."""
        return [
            json.dumps(rows[start : start + MAX_ROWS]) for start in range(0, len(rows), MAX_ROWS)
        ]

    rss_after_requests: list[float] = []

    def post_all(path: str, requests: list[str], key: str = "") -> None:
        for number, body in enumerate(requests):
            headers = {"HTTP_IDEMPOTENCY_KEY": f"{key}-{number}"} if key else {}
            response = client.post(path, body, content_type="application/json", **headers)
            assert response.status_code == 200, response.content[:500]
            rss_after_requests.append(current_rss_mb())

    print(f"Measured (load average {os.getloadavg()[0]:.1f}):", flush=True)
    daily_bodies = bodies(daily)
    if args.clients:
        token = Token.objects.create(user=manager).key
        poster = usage_http.ConcurrentPoster(url, token, args.clients)
        try:
            ingest_seconds, _ = timed(
                f"ingest {len(daily):,} daily rows (over HTTP, {args.clients} requests at once)",
                lambda: poster.post_all("/api/usage/daily/", daily_bodies),
            )
            rss = ", ".join(f"{mb:.0f}" for mb in poster.workers_rss_mb())
            print(f"    gunicorn workers' RSS after the batch (MB): {rss}", flush=True)
        finally:
            poster.stop()
    else:
        ingest_seconds, _ = timed(
            f"ingest {len(daily):,} daily rows (in process)",
            lambda: post_all("/api/usage/daily/", daily_bodies),
        )
    results["ingest rows/s"] = len(daily) / ingest_seconds
    marked = PendingEvaluation.objects.count()
    seconds, sweep = timed(
        f"sweep of the {marked:,} changed accounts into {args.segments} segments",
        lambda: segments_evaluate_changed_accounts(today=TODAY, max_batches=10_000),
    )
    results["sweep s"] = seconds
    results["day ingested and in segments s"] = ingest_seconds + seconds
    events = [
        {"account": e, "metric": k, "at": f"{day}T12:00:00Z"}
        for e in external_ids
        for k in keys[:1] * args.metrics
    ]
    event_bodies = bodies(events)
    seconds, _ = timed(
        f"ingest {len(events):,} events",
        lambda: post_all("/api/usage/events/", event_bodies, "ev"),
    )
    results["events/s"] = len(events) / seconds
    segments_evaluate_changed_accounts(today=TODAY, max_batches=10_000)

    rule = {
        "all": [
            {"field": "usage.logins.days_active_30d", "op": "lt", "value": 5},
            {"field": "arr", "op": "gte", "value": 50000},
        ]
    }
    seconds, matched = timed(
        "usage rule over all accounts (count)", lambda: rule_queryset(rule, today=TODAY).count()
    )
    results["usage rule s"] = seconds
    print(f"    {matched:,} accounts match", flush=True)
    tomorrow = TODAY + timedelta(days=1)
    # The day-change job slides the window values of the metrics the segments read, then
    # recomputes the segments, then slides the other metrics: the slides are timed apart.
    slides: list[float] = []

    def timed_slide(**kwargs):
        started = time.perf_counter()
        done = usage_features_slide(**kwargs)
        slides.append(time.perf_counter() - started)
        return done

    day_change.usage_features_slide = timed_slide
    seconds, _ = timed(
        f"daily slide: the day-change job ({args.segments} segments, {args.metrics} metrics)",
        lambda: day_change.segments_recompute_date_dependent(today=tomorrow),
    )
    print(
        f"    window values of the metric the segments read {slides[0]:.2f} s, segments "
        f"recomputed {seconds - sum(slides):.2f} s, the other metrics' window values "
        f"{slides[1]:.2f} s",
        flush=True,
    )
    results["slide s"] = seconds
    results["segments slid s"] = seconds - slides[1]
    results["peak RSS MB"] = peak_rss_mb()
    # Whether serving requests grows the process (a leak) or not: its resident memory
    # after each request, in order (the bench's own data is built before the first).
    print(
        "    RSS after each request (MB): " + ", ".join(f"{mb:.0f}" for mb in rss_after_requests),
        flush=True,
    )
    gc.collect()  # what of it was garbage in reference cycles (freed by a full collection)
    print(f"    RSS after a full garbage collection: {current_rss_mb():.0f} MB", flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    print("Summary: " + ", ".join(f"{k} = {v:,.1f}" for k, v in results.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

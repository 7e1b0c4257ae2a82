"""Benchmark the analytics page on a scratch PostgreSQL database.

    .venv/bin/python bench/analytics.py [--accounts 100000] [--segments 20] [--seed 1]
        [--database cs_bench_analytics] [--reuse]

Creates (drops and re-creates) the database ``--database`` (default ``cs_bench_analytics``)
on the server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432/...; never the database named
cs_platform), migrates it, seeds demo accounts with ``demo.accounts.seed_demo``, then
writes ``--segments`` segments straight in SQL: memberships for today, a year of membership
history (entered events, and exits for accounts that lost their ARR), and a daily snapshot
for a year. Three of them are younger than a year (their retention is "since created").

Then, for a pinned "today", it renders ``/analytics/`` as a manager through Django's test
client (every segment compared, every segment in the overlap matrix, 12 cohorts) and prints
the render times: computed (page cache off) today (current membership) and as of a past
date (membership from the events), and served from the page cache. Target: under one
second. ``--reuse`` keeps an existing seeded database.
"""

import argparse
import os
import statistics
import time
from datetime import date

import scratch_db

DATABASE = "cs_bench_analytics"
TODAY = date(2026, 11, 22)
PAST = date(2026, 6, 1)
RUNS = 5

# (name, SQL predicate on account a, young): members are the accounts matching it with ARR.
SEGMENTS = [
    ("Enterprise plan", "a.plan = 'enterprise'", False),
    ("Pro plan", "a.plan = 'pro'", False),
    ("Starter plan", "a.plan = 'starter'", False),
    ("Free plan", "a.plan = 'free'", False),
    ("North America", "a.region = 'NA'", False),
    ("EMEA", "a.region = 'EMEA'", False),
    ("APAC", "a.region = 'APAC'", False),
    ("LATAM", "a.region = 'LATAM'", False),
    ("Software", "a.industry = 'software'", False),
    ("Financial services", "a.industry = 'finance'", False),
    ("Healthcare", "a.industry = 'healthcare'", False),
    ("Retail", "a.industry = 'retail'", False),
    ("Large (1000+ employees)", "a.employees >= 1000", False),
    ("Mid-size (200-999)", "a.employees BETWEEN 200 AND 999", False),
    ("Small (< 200)", "a.employees < 200", False),
    ("With a champion", "a.has_champion", False),
    ("Referenceable", "a.referenceable", False),
    ("Healthy (70+)", "a.health_score >= 70", True),
    ("At risk (< 40)", "a.health_score < 40", True),
    ("Adopting", "a.lifecycle_stage = 'adopting'", True),
]


def _write_segments(count: int) -> None:
    """Segments, memberships, events and snapshots, set-based."""
    from django.db import connection, transaction

    from segments.models import Membership, MembershipEvent, Segment, SegmentSnapshot

    definitions = (SEGMENTS * (count // len(SEGMENTS) + 1))[:count]
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (SegmentSnapshot, MembershipEvent, Membership, Segment):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
        for n, (name, predicate, young) in enumerate(definitions, start=1):
            created = "2026-06-01" if young else "2024-11-01"
            segment = Segment.objects.create(
                name=name if n <= len(SEGMENTS) else f"{name} {n}", slug=f"bench-{n}"
            )
            cursor.execute(
                f"UPDATE {Segment._meta.db_table} SET created_at = %s::timestamptz WHERE id = %s",
                [created, segment.pk],
            )
            # Entered when the segment began or the account became a customer (the later).
            entered = (
                "GREATEST(%s::timestamptz, COALESCE(a.customer_since, %s::date)::timestamptz"
                " + interval '9 hours')"
            )
            cursor.execute(
                f"""INSERT INTO {Membership._meta.db_table} (segment_id, account_id, entered_at)
                SELECT %s, a.id, {entered} FROM customers_account a
                WHERE {predicate} AND a.arr > 0""",
                [segment.pk, created, created],
            )
            cursor.execute(
                f"""INSERT INTO {MembershipEvent._meta.db_table} (segment_id, account_id, kind, at)
                SELECT segment_id, account_id, 'entered', entered_at
                FROM {Membership._meta.db_table} WHERE segment_id = %s""",
                [segment.pk],
            )
            # Former members: matched once, left when they churned (or 30 days ago).
            cursor.execute(
                f"""INSERT INTO {MembershipEvent._meta.db_table} (segment_id, account_id, kind, at)
                SELECT %s, a.id, kind.k,
                    CASE kind.k WHEN 'entered' THEN {entered}
                    ELSE GREATEST({entered} + interval '1 day',
                        COALESCE(a.churned_on, %s::date - 30)::timestamptz + interval '10 hours')
                    END
                FROM customers_account a CROSS JOIN (VALUES ('entered'), ('exited')) kind(k)
                WHERE {predicate} AND a.arr = 0 AND a.customer_since IS NOT NULL""",
                [segment.pk, created, created, created, created, TODAY.isoformat()],
            )
            cursor.execute(
                f"""INSERT INTO {SegmentSnapshot._meta.db_table}
                    (segment_id, computed_at, member_count, arr)
                SELECT %s, day + interval '23 hours',
                    (SELECT COUNT(*) FROM {Membership._meta.db_table} m
                     WHERE m.segment_id = %s) * (0.8 + 0.2 * (day::date - %s::date) / 365.0),
                    0
                FROM generate_series(%s::date, %s::date, interval '1 day') AS day""",
                [segment.pk, segment.pk, TODAY.replace(year=TODAY.year - 1)]
                + [TODAY.replace(year=TODAY.year - 1), TODAY],
            )
            cursor.execute(
                f"""UPDATE {Segment._meta.db_table} s SET
                    member_count = (SELECT COUNT(*) FROM {Membership._meta.db_table} m
                        WHERE m.segment_id = s.id),
                    arr = (SELECT COALESCE(SUM(a.arr), 0) FROM {Membership._meta.db_table} m
                        JOIN customers_account a ON a.id = m.account_id WHERE m.segment_id = s.id)
                WHERE s.id = %s""",
                [segment.pk],
            )


def _time_page(client, query: dict) -> list[float]:  # noqa: ANN001
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get("/analytics/", query)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database", default=DATABASE, help=f"the scratch database (default {DATABASE})"
    )
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    if args.accounts <= 0 or not 1 <= args.segments <= 25:
        parser.error("--accounts must be positive and --segments between 1 and 25")
    scratch_db.refuse_protected(parser, args.database)

    url = scratch_db.url_beside_environment(parser, args.database)
    os.environ["CS_TODAY"] = TODAY.isoformat()
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    scratch_db.prepare(url, fresh=not args.reuse)
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    from customers.models import Account, Contract
    from segments.models import Membership, MembershipEvent, Segment

    if not args.reuse:
        scratch_db.seed(accounts=args.accounts, seed=args.seed)
    started = time.perf_counter()
    if not (args.reuse and Segment.objects.count() == args.segments):
        _write_segments(args.segments)
        scratch_db.analyze()
    print(
        f"{Account.objects.count():,} accounts, {Contract.objects.count():,} contracts, "
        f"{args.segments} segments: {Membership.objects.count():,} memberships, "
        f"{MembershipEvent.objects.count():,} events "
        f"(written in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )

    manager = get_user_model().objects.filter(groups__name="Managers").order_by("id").first()
    client = Client()
    client.force_login(manager)
    past_query = {"as_of": PAST, "overlap-as_of": PAST, "cohort-as_of": PAST}
    with override_settings(CS_ANALYTICS_CACHE_SECONDS=0):
        client.get("/analytics/")  # warm-up: templates, connections
        cold_today = _time_page(client, {})
        cold_past = _time_page(client, past_query)
    cache.clear()
    warm_today = _time_page(client, {})  # the first run fills the page cache
    print(f"\n/analytics/ for {args.segments} segments:")
    for label, seconds in (
        ("today, computed", cold_today),
        (f"{PAST}, computed", cold_past),
        ("today, cached", warm_today[1:]),
    ):
        print(
            f"  {label:<22} median {statistics.median(seconds) * 1000:6.0f} ms   "
            f"runs: {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms"
        )
    worst = max(statistics.median(cold_today), statistics.median(cold_past))
    print(f"  target < 1000 ms computed: {'met' if worst < 1 else 'NOT met'}")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

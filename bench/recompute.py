"""Benchmark the segment engine against hand-written SQL on a scratch PostgreSQL database.

    .venv/bin/python bench/recompute.py [--accounts 1000000] [--segments 100]
        [--changed 10000] [--database cs_bench_recompute] [--reuse] [--rounds 3]
        [--workers 1,2,4] [--redis-port 8121] [--range-accounts N]
        [--first-workers 2 [--skip-in-process]] [--only-first]

The database (default ``cs_bench_recompute`` on 127.0.0.1, user postgres) is dropped,
re-created, migrated and seeded with ``demo.accounts.seed_demo`` in a child process (so
the seeding's memory does not count as the worker's); ``--reuse`` keeps an existing one
that already holds ``--accounts`` accounts. ``cs_platform`` is refused.

For each number of segments (realistic rules: plans, regions, tiers in an exclusive group,
renewal windows, health, usage, CSM books, traits, two ranked "top N") it prints each job
beside its hand-written lower bound, measured in the same run and interleaved (job, bound,
job, bound, …, ``--rounds`` times each), with min / median and their ratios
(``bench_jobs``):

- the first computation (empty membership: every member inserted with its entry event),
  ``segments_recompute_all`` in this process, against one hand-written statement per
  segment;
- the recompute of every unranked segment with nothing to do, and after ``--changed``
  accounts had a heavy change (new ARR, health and last seen: each moves in or out of
  about seven of the 100 segments), in this process (its ranges one after the other),
  against one hand-written pass: bitmask words per account, the diff and the totals;
- the sweep of ``--changed`` marked accounts after a heavy change, against the same
  hand-written pass over those accounts;

then the schedule's job through real Celery workers (a private Redis on ``--redis-port``,
the outbox relay, one worker with 1, 2, 4 processes on both queues): the time from
sending it to its run's end, a segment edit and a publish while it runs, and the workers'
peak memory (``bench_workers``).
"""

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import processes
import recompute_lower
import recompute_workers
import scratch_db
from recompute_segments import TODAY, SegmentSpec, pick, segment_specs

# --- setup ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--segments", default="100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--redis-port", type=int, default=8121)
    parser.add_argument(
        "--range-accounts", type=int, default=0, help="accounts per range (default: accounts/16)"
    )
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument(
        "--first-workers",
        type=int,
        default=0,
        help="also time the first computation through this many worker processes",
    )
    parser.add_argument(
        "--skip-in-process",
        action="store_true",
        help="create the segments but skip the in-process phases (with --first-workers)",
    )
    parser.add_argument(
        "--only-first",
        action="store_true",
        help="of the in-process phases, only the first computation beside its bound",
    )
    parser.add_argument("--database", default="cs_bench_recompute")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.accounts <= 0:
        parser.error("--accounts: must be a positive number")
    if args.rounds <= 0:
        parser.error("--rounds: must be a positive number")
    if args.redis_port == 6379:
        parser.error("--redis-port: not the shared Redis port")
    args.range_accounts = args.range_accounts or max(2_000, args.accounts // 16)
    scratch_db.refuse_protected(parser, args.database)
    return args


def database_url(database: str) -> str:
    return f"{scratch_db.LOCAL_SERVER}/{database}"


def django_setup(database: str) -> None:
    """Django on the (already created) scratch database, migrated."""
    os.environ["CS_TODAY"] = TODAY.isoformat()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    scratch_db.prepare(database_url(database), fresh=False)


def seed_only(args: argparse.Namespace) -> int:
    django_setup(args.database)
    from demo.accounts import seed_demo

    started = time.perf_counter()
    result = seed_demo(accounts=args.accounts, seed=args.seed)
    scratch_db.analyze()
    print(f"  seeded {result.accounts:,} accounts in {time.perf_counter() - started:.1f} s")
    return 0


def prepare_database(args: argparse.Namespace) -> None:
    url = database_url(args.database)
    if args.reuse and (count := scratch_db.account_count(url)) == args.accounts:
        print(f"Reusing {args.database} with {count:,} accounts")
        return
    scratch_db.recreate(url)
    print(f"Seeding {args.accounts:,} accounts into {args.database} (child process)...")
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--seed-only",
            "--database",
            args.database,
            "--accounts",
            str(args.accounts),
            "--seed",
            str(args.seed),
        ],
        check=True,
    )


# --- measuring --------------------------------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vacuum_analyze(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def interleaved(
    label: str,
    job: Callable[[], Any],
    bound: Callable[[], Any],
    rounds: int,
    before_each: Callable[[], None] | None = None,
) -> None:
    """Time ``job`` and its lower bound ``bound`` in turns, ``rounds`` times each
    (``before_each`` before every timing, untimed), and print min / median and ratios."""
    times: dict[str, list[float]] = {"job": [], "bound": []}
    for _ in range(rounds):
        for name, work in (("job", job), ("bound", bound)):
            if before_each is not None:
                before_each()
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    job_min, bound_min = min(times["job"]), min(times["bound"])
    job_med, bound_med = statistics.median(times["job"]), statistics.median(times["bound"])
    print(
        f"{label:44s} engine min {job_min:6.2f} med {job_med:6.2f} s | hand-written min "
        f"{bound_min:6.2f} med {bound_med:6.2f} s | ratio min {job_min / bound_min:4.2f} "
        f"med {job_med / bound_med:4.2f}",
        flush=True,
    )


def run_for(specs: list[SegmentSpec], args: argparse.Namespace) -> list[Any]:
    from django.db import connection, transaction

    from segments import engine, services
    from segments.models import ExclusiveGroup
    from segments.signals import recompute_requested

    # No broker for the in-process phases; recomputes are called directly below.
    recompute_requested.disconnect(dispatch_uid="segments_recompute_requested")

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE segments_membershipevent, segments_membership, segments_segmentsnapshot, "
            "segments_segment, segments_segmentversion, segments_exclusivegroup, "
            "segments_recomputerun CASCADE"
        )
        cursor.execute("DELETE FROM customers_pendingevaluation")
        cursor.execute("SELECT count(*), sum(arr) FROM customers_account")  # warm the cache
    groups: dict[str, Any] = {}
    segments = []
    for spec in specs:
        group = None
        if spec.group:
            group = groups.get(spec.group) or ExclusiveGroup.objects.create(name=spec.group)
            groups[spec.group] = group
        segments.append(
            services.segment_create(
                name=spec.name,
                rule=spec.rule,
                rank_by=spec.rank_by,
                rank_limit=spec.rank_limit,
                exclusive_group=group,
                priority=spec.priority,
                publish=True,
            )
        )
    if args.skip_in_process:
        return segments
    unranked = {s.pk for s, spec in zip(segments, specs, strict=True) if not spec.rank_by}
    rounds, ranges = args.rounds, args.range_accounts

    def empty() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE segments_membershipevent, segments_membership, "
                "segments_segmentsnapshot CASCADE"
            )

    def first_bound() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            recompute_lower.first_computation(cursor, specs, segments)

    def every_segment() -> None:
        engine.segments_recompute_all(
            only=lambda segment: segment.pk in unranked, accounts_per_range=ranges
        )

    def every_bound(only_marked: bool = False) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            recompute_lower.one_pass(cursor, specs, segments, only_marked=only_marked)

    # Changed accounts: deterministic random samples.
    rng = random.Random(args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM customers_account")
        low, high = cursor.fetchone()

    def change(mark: bool) -> None:
        """A heavy change of ``--changed`` random accounts: new ARR, health, last seen
        (each moves in or out of about seven of the 100 segments)."""
        changed = sorted(rng.sample(range(low, high + 1), min(args.changed, high - low + 1)))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE customers_account SET arr = round(arr * 1.7 + 20000, 2), "
                "health_score = (coalesce(health_score, 50) + 37) %% 101, "
                "last_seen_at = %s WHERE id = ANY(%s)",
                [TODAY - timedelta(days=rng.randint(0, 120)), changed],
            )
            if mark:  # as customers.services.accounts_mark_changed does, in the transaction
                cursor.execute(
                    "INSERT INTO customers_pendingevaluation (account_id, marked_at) "
                    "SELECT unnest(%s::bigint[]), now() "
                    "ON CONFLICT (account_id) DO UPDATE SET marked_at = EXCLUDED.marked_at",
                    [changed],
                )

    n = len(specs)
    print(
        f"\n== {n} segments ({len(unranked)} unranked) over {args.accounts:,} accounts; "
        f"ranges of {ranges:,} accounts; {rounds} rounds ==",
        flush=True,
    )
    interleaved(
        "first computation (from empty)",
        lambda: engine.segments_recompute_all(accounts_per_range=ranges),
        first_bound,
        rounds,
        before_each=empty,
    )
    engine.segments_recompute_all(accounts_per_range=ranges)  # totals and snapshots
    rows = {}
    with connection.cursor() as cursor:
        for table in ("segments_membership", "segments_membershipevent"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            rows[table] = cursor.fetchone()[0]
    print(
        f"    {rows['segments_membership']:,} memberships, {rows['segments_membershipevent']:,} events"
    )
    if args.only_first:
        return segments
    # Autovacuum's work after a bulk load, done now so that every later figure reads the
    # tables as they are in steady state (index-only scans need the visibility map).
    vacuum_analyze(["segments_membership", "segments_membershipevent", "customers_account"])
    interleaved("recompute of every segment, no change", every_segment, every_bound, rounds)
    interleaved(
        f"recompute of every segment, {args.changed:,} heavy changes",
        every_segment,
        every_bound,
        rounds,
        before_each=lambda: change(mark=False),
    )
    interleaved(
        f"sweep of {args.changed:,} heavy changes",
        lambda: engine.segments_evaluate_changed_accounts(batch_size=max(args.changed, 1)),
        lambda: every_bound(only_marked=True),
        rounds,
        before_each=lambda: change(mark=True),
    )
    # The hand-written sweep left the ranked segments as they were: all of them, then check.
    engine.segments_recompute_all(accounts_per_range=ranges)
    check = [engine.segment_recompute(segment_id=s.pk) for s in segments]
    drift = sum(r.entered + r.exited for r in check)
    print(f"check: a recompute of each segment afterwards changed {drift} memberships (expect 0)")
    print(f"peak RSS of this process: {rss_mb():.0f} MB")
    return segments


def main() -> int:
    args = parse_args()
    if args.seed_only:
        return seed_only(args)
    prepare_database(args)
    # The in-process phases' outbox rows go to the private Redis (started for the
    # workers' table), never the shared one.
    redis = processes.PrivateRedis(args.redis_port)
    redis.start()
    os.environ["CELERY_BROKER_URL"] = redis.url
    try:
        django_setup(args.database)
        print(f"RSS after Django setup: {rss_mb():.0f} MB")
        specs = segment_specs()
        segments: list[Any] = []
        for count in [int(c) for c in args.segments.split(",") if c]:
            segments = run_for(pick(specs, count), args)
        if args.workers:
            recompute_workers.bench_workers(args, segments, database_url(args.database), redis)
        if args.first_workers:
            recompute_workers.bench_first_computation(
                args, segments, database_url(args.database), redis
            )
    finally:
        redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

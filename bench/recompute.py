"""Benchmark the segment recompute on a scratch PostgreSQL database.

    .venv/bin/python bench/recompute.py [--accounts 1000000] [--segments 20,100]
        [--changed 10000] [--database cs_bench_recompute] [--reuse]

The database (default ``cs_bench_recompute`` on 127.0.0.1, user postgres) is dropped,
re-created, migrated and seeded with ``demo.accounts.seed_demo`` in a child process (so
the seeding's memory does not count as the worker's); ``--reuse`` keeps an existing one
that already holds ``--accounts`` accounts. ``cs_platform`` is refused.

For each number of segments (realistic rules: plans, regions, tiers in an exclusive group,
renewal windows, health, usage, CSM books, traits, two ranked "top N") it prints:

- full recompute (empty membership → every member inserted, with its events), sequential
  in one process, and the same work done by one hand-written set-based SQL statement per
  segment (the lower bound), with the ratio;
- a no-change recompute: time and rows written, and the hand-written diff query, one
  segment at a time; then the recompute of every segment together (``segments_recompute_all``,
  the schedule's job: one pass over the accounts);
- the sweep of ``--changed`` changed accounts across all segments, twice: a heavy change
  (new ARR, health and last seen: each account moves in or out of about seven of the 100
  segments) and a typical daily sync (health ±4, seen in the last three days), each split
  into evaluating (reads, the diff) and writing (events, memberships);
- the recompute of every segment together after ``--changed`` more accounts changed;
- the worker's memory: peak RSS (ru_maxrss) and the tracemalloc peak of each phase.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import scratch_db
from recompute_segments import TODAY, SegmentSpec, pick, segment_specs

# --- setup ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--segments", default="20,100")
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--database", default="cs_bench_recompute")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.accounts <= 0:
        parser.error("--accounts: must be a positive number")
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


@dataclass
class Phase:
    seconds: float
    traced_peak_mb: float


def measure(work: Callable[[], Any]) -> tuple[Phase, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Phase(seconds, peak / 2**20), value


class StatementTimes:
    """A connection.execute_wrapper adding up the time of the statements that write
    membership rows and their events."""

    WRITES = (
        'INSERT INTO "segments_membershipevent"',
        'INSERT INTO "segments_membership" ',
        'DELETE FROM "segments_membership" ',
    )

    def __init__(self) -> None:
        self.writes = 0.0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001 (Django's)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.startswith(self.WRITES):
                self.writes += time.perf_counter() - started


def vacuum_analyze(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_for(specs: list[SegmentSpec], args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from segments import engine, services
    from segments.models import ExclusiveGroup
    from segments.signals import recompute_requested

    # Setup: no broker in the bench; recomputes are called directly below.
    recompute_requested.disconnect(dispatch_uid="segments_recompute_requested")

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE segments_membershipevent, segments_membership, segments_segmentsnapshot, "
            "segments_segment, segments_segmentversion, segments_exclusivegroup CASCADE"
        )
        cursor.execute("DELETE FROM customers_pendingevaluation")
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
    order = sorted(range(len(specs)), key=lambda i: (specs[i].priority or 0, i))

    def table_rows() -> dict[str, int]:
        with connection.cursor() as cursor:
            counts = {}
            for table in (
                "segments_membership",
                "segments_membershipevent",
                "segments_segmentsnapshot",
            ):
                cursor.execute(f"SELECT count(*) FROM {table}")
                counts[table.removeprefix("segments_")] = cursor.fetchone()[0]
            return counts

    def target_sql(i: int) -> str:
        spec = specs[i]
        sql = f"SELECT a.id FROM customers_account a WHERE {spec.sql}"
        if spec.rank_by:
            sql += f" ORDER BY a.{spec.rank_by} DESC NULLS LAST, a.id LIMIT {spec.rank_limit}"
        return sql

    # Lower bound: one hand-written statement per segment inserting memberships and events.
    def lower_bound_full() -> list[int]:
        counts = []
        for i in order:
            segment = segments[i]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"WITH t AS MATERIALIZED ({target_sql(i)}), "
                    "ins AS (INSERT INTO segments_membership "
                    "(segment_id, account_id, entered_at, version_id) "
                    "SELECT %s, id, now(), %s FROM t) "
                    "INSERT INTO segments_membershipevent "
                    "(segment_id, account_id, kind, at, version_id) "
                    "SELECT %s, id, 'entered', now(), %s FROM t",
                    [segment.pk, segment.current_version_id] * 2,
                )
                counts.append(cursor.rowcount)
        return counts

    def lower_bound_nochange() -> int:
        total = 0
        for i in order:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH t AS MATERIALIZED ({target_sql(i)}), m AS (SELECT account_id "
                    "FROM segments_membership WHERE segment_id = %s) "
                    "SELECT count(*) FROM ((SELECT id FROM t EXCEPT SELECT account_id FROM m) "
                    "UNION ALL (SELECT account_id FROM m EXCEPT SELECT id FROM t)) diff",
                    [segments[i].pk],
                )
                total += cursor.fetchone()[0]
        return total

    def engine_full() -> list[int]:
        counts = []
        for i in order:
            result = engine.segment_recompute(segment_id=segments[i].pk)
            counts.append(result.member_count)
        return counts

    with connection.cursor() as cursor:  # warm the cache the same way for both
        # As the engine does (Dialect.tune_transaction, per transaction), for the whole
        # session here, so the hand-written statements get the same fastest plan.
        cursor.execute("SET jit = off")
        cursor.execute("SELECT count(*), sum(arr) FROM customers_account")

    n = len(specs)
    print(f"\n== {n} segments over {args.accounts:,} accounts ==")
    lower, lower_counts = measure(lower_bound_full)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE segments_membershipevent, segments_membership CASCADE")
    full, engine_counts = measure(engine_full)
    mismatched = [
        specs[i].name
        for i, lower_count, engine_count in zip(order, lower_counts, engine_counts, strict=True)
        if lower_count != engine_count
    ]
    rows = table_rows()
    print(
        f"full recompute:      {full.seconds:7.2f} s  ({rows['membership']:,} memberships, "
        f"{rows['membershipevent']:,} events)  traced peak {full.traced_peak_mb:.1f} MB"
    )
    print(
        f"hand-written SQL:    {lower.seconds:7.2f} s  ratio {full.seconds / lower.seconds:.2f}"
        + (f"  COUNT MISMATCH: {mismatched}" if mismatched else "  (same member counts)")
    )

    # Autovacuum's work after a bulk load, done now so that every later figure reads the
    # tables as they are in steady state (index-only scans need the visibility map).
    started = time.perf_counter()
    vacuum_analyze(["segments_membership", "segments_membershipevent", "customers_account"])
    print(f"VACUUM ANALYZE after the load: {time.perf_counter() - started:7.2f} s")

    before = table_rows()
    nochange, _ = measure(
        lambda: [engine.segment_recompute(segment_id=segments[i].pk) for i in order]
    )
    after = table_rows()
    written = {k: after[k] - before[k] for k in after}
    lower_nc, diff = measure(lower_bound_nochange)
    print(
        f"no-change recompute: {nochange.seconds:7.2f} s  rows written: "
        f"{written['membership']} memberships, {written['membershipevent']} events, "
        f"{written['segmentsnapshot']} snapshots  traced peak {nochange.traced_peak_mb:.1f} MB"
    )
    print(
        f"hand-written diff:   {lower_nc.seconds:7.2f} s  ratio "
        f"{nochange.seconds / lower_nc.seconds:.2f}  (diff rows {diff})"
    )

    before = table_rows()
    together, everything = measure(engine.segments_recompute_all)
    written = {k: v - before[k] for k, v in table_rows().items()}
    print(
        f"all together:        {together.seconds:7.2f} s  rows written: "
        f"{written['membership']} memberships, {written['membershipevent']} events, "
        f"{written['segmentsnapshot']} snapshots ({everything.segments} segments, "
        f"{len(everything.one_by_one)} ranked one by one)  traced peak "
        f"{together.traced_peak_mb:.1f} MB"
    )

    # Changed accounts: deterministic random samples.
    rng = random.Random(args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM customers_account")
        low, high = cursor.fetchone()

    def change(kind: str, mark: bool) -> None:
        changed = sorted(rng.sample(range(low, high + 1), min(args.changed, high - low + 1)))
        with transaction.atomic(), connection.cursor() as cursor:
            if kind == "heavy":
                cursor.execute(
                    "UPDATE customers_account SET arr = round(arr * 1.7 + 20000, 2), "
                    "health_score = (coalesce(health_score, 50) + 37) %% 101, "
                    "last_seen_at = %s WHERE id = ANY(%s)",
                    [TODAY - timedelta(days=rng.randint(0, 120)), changed],
                )
            else:
                cursor.execute(
                    "UPDATE customers_account SET "
                    "health_score = least(100, greatest(0, coalesce(health_score, 50) "
                    "+ (id %% 9) - 4)), last_seen_at = %s::date - (id %% 3)::int "
                    "WHERE id = ANY(%s)",
                    [TODAY, changed],
                )
            if mark:  # as customers.services.accounts_mark_changed does, in the transaction
                cursor.execute(
                    "INSERT INTO customers_pendingevaluation (account_id, marked_at) "
                    "SELECT unnest(%s::bigint[]), now() "
                    "ON CONFLICT (account_id) DO UPDATE SET marked_at = EXCLUDED.marked_at",
                    [changed],
                )

    for kind, label in (("heavy", "heavy change"), ("typical", "typical sync")):
        change(kind, mark=True)
        before = table_rows()
        timings = StatementTimes()
        with connection.execute_wrapper(timings):
            sweep_phase, sweep = measure(
                lambda: engine.segments_evaluate_changed_accounts(batch_size=max(args.changed, 1))
            )
        after = table_rows()
        print(
            f"changed accounts:    {sweep_phase.seconds:7.2f} s  for {sweep.accounts:,} accounts x "
            f"{n} segments, {label} ({sweep.entered:,} entered, {sweep.exited:,} exited, "
            f"{after['membershipevent'] - before['membershipevent']:,} events; "
            f"{len(sweep.ranked_recomputed)} ranked segments recomputed in full) "
            f"traced peak {sweep_phase.traced_peak_mb:.1f} MB"
        )
        print(
            f"    writing events and memberships {timings.writes * 1000:,.0f} ms, "
            f"everything else {(sweep_phase.seconds - timings.writes) * 1000:,.0f} ms"
        )

    change("heavy", mark=False)
    together, everything = measure(engine.segments_recompute_all)
    print(
        f"all together after {args.changed:,} more changed accounts: {together.seconds:7.2f} s  "
        f"({everything.entered:,} entered, {everything.exited:,} exited)"
    )
    _, check = measure(lambda: [engine.segment_recompute(segment_id=segments[i].pk) for i in order])
    drift = sum(r.entered + r.exited for r in check)
    print(
        f"check: a full recompute of each segment afterwards changed {drift} memberships (expect 0)"
    )
    print(f"peak RSS of this worker process so far: {rss_mb():.0f} MB")


def main() -> int:
    args = parse_args()
    if args.seed_only:
        return seed_only(args)
    prepare_database(args)
    django_setup(args.database)
    print(f"worker RSS after Django setup: {rss_mb():.0f} MB")
    specs = segment_specs()
    for count in [int(c) for c in args.segments.split(",") if c]:
        run_for(pick(specs, count), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

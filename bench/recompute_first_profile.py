"""Profile the first computation (every segment from empty) in this process, on a database
``bench/recompute.py`` seeded: the bench's segments created (memberships, events and
snapshots emptied), then ``segments_recompute_all`` timed per phase (the run's start, its
ranges, its end) and per statement (grouped by their first words), with the WAL each
phase wrote (``pg_stat_wal``: records, full-page images, bytes).

    .venv/bin/python bench/recompute_first_profile.py --database cs_bench_recompute
        [--accounts-per-range 62500] [--top 12]

Run it under the heavy lock. It leaves the database computed (as a first computation
would), so a later ``bench/recompute.py --reuse`` starts from its segments.
"""

import argparse
import os
import sys
import time
from collections import defaultdict
from typing import Any

import recompute as bench
import scratch_db
from recompute_segments import pick, segment_specs


def wal(cursor: Any) -> tuple[int, int, int]:
    cursor.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
    records, fpi, size = cursor.fetchone()
    return int(records), int(fpi), int(size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="cs_bench_recompute")
    parser.add_argument("--accounts-per-range", type=int, default=62_500)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.database)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    bench.django_setup(args.database)
    from django.db import connection

    from segments import engine

    bench.run_for(
        pick(segment_specs(), args.segments),
        argparse.Namespace(skip_in_process=True),
    )
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    timings: dict[str, list[float]] = defaultdict(list)

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        head = " ".join(sql.split())[:60]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[head].append(time.perf_counter() - started)

    phases: list[tuple[str, float, tuple[int, int, int]]] = []

    def phase(name: str, work: Any) -> Any:
        with connection.cursor() as cursor:
            before = wal(cursor)
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            after = wal(cursor)
        phases.append((name, seconds, tuple(a - b for a, b in zip(after, before, strict=True))))
        return result

    with connection.execute_wrapper(wrapper):
        total_started = time.perf_counter()
        run = phase(
            "start",
            lambda: engine.recompute_run_start(accounts_per_range=args.accounts_per_range),
        )
        ids = list(run.ranges.order_by("number").values_list("pk", flat=True))

        def ranges() -> None:
            for range_id in ids:
                engine.recompute_range_apply(range_id=range_id)

        phase(f"{len(ids)} ranges", ranges)
        phase("end", lambda: engine.recompute_run_finish(run_id=run.pk))

        def one_by_one() -> None:
            for segment_id in run.one_by_one:
                engine.segment_recompute(segment_id=segment_id)

        phase(f"{len(run.one_by_one)} one by one", one_by_one)
        total = time.perf_counter() - total_started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segments_membership")
        members = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM segments_membershipevent")
        events = cursor.fetchone()[0]
    print(
        f"first computation in this process: {total:.2f} s; {members:,} memberships, {events:,} events"
    )
    print(f"{'phase':20s} {'s':>8s} {'WAL records':>12s} {'FPI':>9s} {'WAL MB':>9s}")
    for name, seconds, (records, fpi, size) in phases:
        print(f"{name:20s} {seconds:8.2f} {records:12,d} {fpi:9,d} {size / 2**20:9.0f}")
    print(f"\nstatements (top {args.top} by total time)")
    ranked = sorted(timings.items(), key=lambda item: -sum(item[1]))
    for head, spent in ranked[: args.top]:
        print(f"{sum(spent):8.2f} s {len(spent):5d}x  {head}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

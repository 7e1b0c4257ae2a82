"""The recompute of every segment through real Celery workers, for bench/recompute.py: a
private Redis server, the outbox relay and one worker with N processes on both queues;
the schedule's job sent through the outbox, timed to its run's end, with a segment edit
and a publish timed while it runs, and the workers' peak memory."""

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import processes


def _peak_rss_mb(worker: processes.Process) -> float:
    """The highest peak RSS (VmHWM) among the worker and its pool processes."""
    peak = 0.0
    for pid in [worker.pid, *worker.children()]:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def _run_once(edit_segment: Any, draft: Any | None) -> dict[str, float]:
    """Send the schedule's job, wait for its run's end; edit (and publish ``draft``) while
    a range runs. Returns the seconds of each."""
    from django.utils import timezone

    from cs_platform import outbox
    from segments import services
    from segments.models import RecomputeRun

    last = RecomputeRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    started = time.perf_counter()
    outbox.enqueue("segments.recompute_all")
    timings: dict[str, float] = {}
    run = None
    while time.perf_counter() - started < 600:
        run = RecomputeRun.objects.filter(id__gt=last).first()
        running = run is not None and run.finished_at is None
        # Once a range is done and others still run: edit and publish now.
        done = running and run.ranges.filter(done_at__isnull=False).exists()
        if done and run.ranges_left and "edit" not in timings:
            edit_started = time.perf_counter()
            services.segment_update(
                segment=edit_segment, data={"description": f"edited at {time.time()}"}
            )
            timings["edit"] = time.perf_counter() - edit_started
            if draft is not None:
                publish_started = time.perf_counter()
                services.version_publish(version=draft)
                timings["publish"] = time.perf_counter() - publish_started
        if run is not None and run.finished_at is not None:
            break
        time.sleep(0.02)
    if run is None or run.finished_at is None:
        raise RuntimeError("the recompute of every segment did not end in 600 s")
    # Until its end was seen committed (within one poll): the run's finished_at is taken
    # before the end's work (a bulk load's index builds), so it would leave that out.
    timings["run"] = (timezone.now() - run.created_at).total_seconds()
    timings["ranges"] = run.ranges.count()
    return timings


def bench_workers(
    args: Any, segments: list[Any], database_url: str, redis: processes.PrivateRedis
) -> None:
    """The speed-up table for 1, 2, 4… worker processes (``--workers``) on the private
    ``redis`` (flushed first: it holds only this bench's messages)."""
    from cs_platform.models import OutboxMessage
    from segments import services

    # Work the in-process phases recorded for a broker (playbook event processing): not
    # part of what the workers are timed on.
    OutboxMessage.objects.all().delete()
    redis.flush()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-recompute-"))
    env = processes.django_env(
        database_url=database_url,
        broker_url=redis.url,
        SEGMENT_RECOMPUTE_RANGE_ACCOUNTS=str(args.range_accounts),
        OUTBOX_BULK_WINDOW="16",
    )
    relay = processes.relay(env, log_dir)
    relay.start()
    edit_segment = segments[-1]
    published = next(s for s in segments if not s.current_version.rank_by)
    print(
        f"\nworkers (private Redis :{args.redis_port}, ranges of {args.range_accounts:,} "
        f"accounts, {args.rounds} runs each; the edit and publish while a run is in progress)"
    )
    print(
        "processes  runs (s)                  min     median  speed-up  edit ms  publish ms  peak RSS MB"
    )
    base = None
    try:
        for count in [int(c) for c in args.workers.split(",") if c]:
            worker = processes.worker(f"bench{count}", "bulk,interactive", env, log_dir, count)
            worker.start()
            processes.wait_ready(worker)
            runs, edits, publishes = [], [], []
            for _ in range(args.rounds):
                # A new version with the same rule: the membership stays what it is.
                draft = services.version_create_draft(
                    segment=published, rule=published.current_version.rule
                )
                timings = _run_once(edit_segment, draft)
                published.refresh_from_db()
                runs.append(timings["run"])
                edits += [timings["edit"] * 1000] if "edit" in timings else []
                publishes += [timings["publish"] * 1000] if "publish" in timings else []
            median = statistics.median(runs)
            base = base or median
            print(
                f"{count:9d}  {' '.join(f'{r:6.2f}' for r in runs):24s} {min(runs):6.2f}  "
                f"{median:7.2f}  {base / median:7.2f}x  "
                f"{max(edits) if edits else float('nan'):7.0f}  "
                f"{max(publishes) if publishes else float('nan'):10.0f}  "
                f"{_peak_rss_mb(worker):11.0f}"
            )
            worker.stop()
    finally:
        relay.stop()
    print(f"  (logs in {log_dir}; edit and publish: the slowest of the runs)")


def bench_first_computation(
    args: Any, segments: list[Any], database_url: str, redis: processes.PrivateRedis
) -> None:
    """The first computation through ``--first-workers`` worker processes: memberships,
    events and snapshots emptied, the schedule's job sent, timed from its run's start to
    its end (the bulk load's index builds included), with an edit while it runs."""
    from django.db import connection

    from cs_platform.models import OutboxMessage

    count = args.first_workers
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE segments_membershipevent, segments_membership, "
            "segments_segmentsnapshot CASCADE"
        )
    OutboxMessage.objects.all().delete()
    redis.flush()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-recompute-first-"))
    env = processes.django_env(
        database_url=database_url,
        broker_url=redis.url,
        SEGMENT_RECOMPUTE_RANGE_ACCOUNTS=str(args.range_accounts),
        OUTBOX_BULK_WINDOW="16",
    )
    relay = processes.relay(env, log_dir)
    relay.start()
    worker = processes.worker(f"first{count}", "bulk,interactive", env, log_dir, count)
    try:
        worker.start()
        processes.wait_ready(worker)
        timings = _run_once(segments[-1], None)
        print(
            f"\nfirst computation through {count} worker processes (ranges of "
            f"{args.range_accounts:,} accounts): {timings['run']:.2f} s from the run's start "
            f"to its end, {timings['ranges']} ranges; edit during it "
            f"{timings.get('edit', float('nan')) * 1000:.0f} ms; peak RSS "
            f"{_peak_rss_mb(worker):.0f} MB  (logs in {log_dir})"
        )
    finally:
        worker.stop()
        relay.stop()

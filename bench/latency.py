"""Benchmark: from an account change to its segment membership, through real Redis and
real workers on both queues, idle and while a 100k-member playbook activation runs.

    .venv/bin/python bench/latency.py [--accounts 100000] [--segments 20] [--changes 200]
        [--redis-port 8110] [--reuse] [--no-activation] [--database cs_bench_latency]

Creates (drops and re-creates; ``--reuse`` keeps a seeded one) the scratch database
``--database`` on the server of DATABASE_URL, seeds ``--accounts`` demo accounts, publishes
``--segments`` realistic segments (bench/recompute_segments.py: tiers in an exclusive
group, ranked "top N", usage, renewals…) plus a probe segment ("plan is enterprise") and
computes them all. Then it starts a private ``redis-server`` on ``--redis-port`` (never
the shared one), one worker for the ``interactive`` queue, one for ``bulk``, and the
outbox relay loop, as production runs them (scripts/run.sh shows the commands).

Phase 1 (idle): ``--changes`` times, an account's plan is changed through the service the
API's PATCH calls (``customers.services.account_update``, which commits), so that it must
enter or leave the probe segment; the time until the membership shows it is recorded.
Phase 2: the same while a playbook on a segment of every account is activated for its
current members (one run per member, each creating a CSM task: runs created set-based,
executed in batches on the bulk queue). Prints p50 / p95 / max per phase and how far the
fan-out got. Target: p95 <= 2 s in both phases.
"""

import argparse
import os
import random
import statistics
import sys
import time

import processes
import scratch_db

DATABASE = "cs_bench_latency"
LOG_DIR = processes.ROOT / "var" / "bench-latency"
PROBE_RULE = {"field": "plan", "op": "eq", "value": "enterprise"}
POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--changes", type=int, default=200, help="changes measured per phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-port", type=int, default=8110)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--no-activation", action="store_true", help="skip phase 2")
    parser.add_argument(
        "--pause", type=float, default=0.3, help="seconds between two changes (default 0.3)"
    )
    args = parser.parse_args()
    if args.accounts <= 0 or args.changes <= 0:
        parser.error("--accounts and --changes: must be positive numbers")
    if not 0 <= args.segments <= 100:
        parser.error("--segments: 0 to 100")
    scratch_db.refuse_protected(parser, args.database)
    return args


def prepare(args: argparse.Namespace, url: str) -> None:
    """Seed (unless reused), publish the segments and compute them once, in this process."""
    reuse = args.reuse and scratch_db.account_count(url) == args.accounts
    scratch_db.prepare(url, fresh=not reuse)
    from segments import engine, services
    from segments.models import Segment

    if not reuse:
        scratch_db.seed(accounts=args.accounts, seed=args.seed)
        from recompute_segments import segment_specs

        groups: dict = {}
        for spec in segment_specs()[: args.segments]:
            extra = {}
            if spec.group:
                from segments.models import ExclusiveGroup

                group = groups.setdefault(
                    spec.group, ExclusiveGroup.objects.get_or_create(name=spec.group)[0]
                )
                extra = {"exclusive_group": group, "priority": spec.priority}
            services.segment_create(
                name=spec.name,
                rule=spec.rule,
                rank_by=spec.rank_by,
                rank_limit=spec.rank_limit,
                publish=True,
                **extra,
            )
        services.segment_create(name="Latency probe", rule=PROBE_RULE, publish=True)
        services.segment_create(name="Every account", rule={"all": []}, publish=True)
        print("Computing every segment once ...", flush=True)
        started = time.perf_counter()
        engine.segments_recompute_all()
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        scratch_db.analyze()
    from cs_platform.models import OutboxMessage

    # What the setup recorded was done in-process: nothing is left for the workers.
    OutboxMessage.objects.all().delete()
    print(f"{Segment.objects.count()} segments over {args.accounts:,} accounts", flush=True)


def measure(args: argparse.Namespace, label: str, progress=None) -> list[float]:  # noqa: ANN001
    """``args.changes`` plan changes, each timed until the probe segment shows it."""
    from customers import services as customer_services
    from customers.models import Account
    from segments.models import Membership, Segment

    probe = Segment.objects.get(name="Latency probe")
    ids = list(Account.objects.values_list("pk", flat=True))
    rng = random.Random(args.seed)
    latencies: list[float] = []
    for n in range(args.changes):
        account = Account.objects.get(pk=rng.choice(ids))
        entering = account.plan != "enterprise"
        started = time.perf_counter()
        customer_services.account_update(
            account=account, data={"plan": "enterprise" if entering else "pro"}
        )
        member = Membership.objects.filter(segment=probe, account_id=account.pk)
        while member.exists() != entering:
            if time.perf_counter() - started > TIMEOUT_SECONDS:
                raise RuntimeError(f"account {account.pk}: not visible after {TIMEOUT_SECONDS} s")
            time.sleep(POLL_SECONDS)
        latencies.append(time.perf_counter() - started)
        if (n + 1) % 50 == 0:
            print(f"  {label}: {n + 1}/{args.changes} {progress() if progress else ''}", flush=True)
        time.sleep(args.pause)
    return latencies


def report(label: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return (
        f"{label:<34} n={len(ordered):>4}  p50 {statistics.median(ordered):6.2f} s  "
        f"p95 {p95:6.2f} s  max {ordered[-1]:6.2f} s"
    )


def activate_fanout() -> tuple:  # noqa: ANN202 (Django imported lazily)
    """Activate a playbook for every current member of "Every account" (a CSM task each)."""
    from playbooks import services as playbook_services
    from segments.models import Segment

    everyone = Segment.objects.get(name="Every account")
    playbook = playbook_services.playbook_create(
        name="Welcome every account",
        segment=everyone,
        is_active=True,
        on_activation="run_for_current_members",
        steps=[{"kind": "create_task", "config": {"title": "Say hello to {{ account.name }}"}}],
    )
    return playbook, everyone.member_count


def fanout_progress(playbook) -> str:  # noqa: ANN001
    from playbooks.models import PlaybookRun

    runs = PlaybookRun.objects.filter(playbook=playbook)
    done = runs.filter(status__in=["done", "failed", "skipped"]).count()
    return f"(fan-out: {runs.count():,} runs created, {done:,} finished)"


def main() -> int:
    args = parse_args()
    url = scratch_db.url_beside_environment(argparse.ArgumentParser(), args.database)
    redis = processes.PrivateRedis(args.redis_port)
    redis.start()
    os.environ["CELERY_BROKER_URL"] = redis.url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "0"
    children: list[processes.Process] = []
    try:
        prepare(args, url)
        redis.flush()  # the setup's messages: its work was done in-process
        env = processes.django_env(database_url=url, broker_url=redis.url)
        children = [
            processes.worker("interactive", "interactive", env, LOG_DIR),
            processes.worker("bulk", "bulk", env, LOG_DIR),
            processes.relay(env, LOG_DIR),
        ]
        for child in children:
            child.start()
        for child in children[:2]:
            processes.wait_ready(child)
        print(f"Workers: interactive x1, bulk x1, relay loop (logs in {LOG_DIR})", flush=True)
        lines = [report("idle", measure(args, "idle"))]
        print(lines[-1], flush=True)
        if not args.no_activation:
            playbook, members = activate_fanout()
            print(f"Activated a playbook for {members:,} current members", flush=True)
            busy = measure(args, "fan-out", lambda: fanout_progress(playbook))
            lines.append(report("during a 100k-member activation", busy))
            lines.append(f"  {fanout_progress(playbook)} at the end of the phase")
        print("\nChange -> visible in segment membership:")
        for line in lines:
            print(line)
    finally:
        for child in children:
            child.stop()
        redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Chaos: inject faults into a running system (PostgreSQL, a private Redis, real workers on
both queues, the relay, beat) and check that nothing is lost, duplicated or stuck.

    .venv/bin/python scripts/chaos/run.py [--faults 56] [--accounts 20000] [--segments 10]
        [--redis-port 8110] [--reuse] [--seed 1] [--database cs_chaos]

See scripts/chaos/README.md. Prints a table of the faults injected (and whether each hit
its task while it ran), the time the system took to settle after each, and the violations
the invariant checks found after each fault. Exit code 1 when any check failed.
"""

import argparse
import os
import random
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # scratch_db, processes, recompute_segments
sys.path.insert(0, str(ROOT))  # before bench/: the usage app, not bench/usage.py

import processes  # noqa: E402
import scratch_db  # noqa: E402

DATABASE = "cs_chaos"
LOG_DIR = ROOT / "var" / "chaos"
SETTLE_TIMEOUT = 300
STUCK_SECONDS = 120
# (label, workload, target worker, how)
FAULTS = [
    ("kill -9 bulk worker, recompute-all", "recompute_all", "bulk", "kill"),
    ("kill -9 bulk worker, renewal rebuild", "renewal_rebuild", "bulk", "kill"),
    ("kill -9 bulk worker, playbook fan-out", "fanout", "bulk", "kill"),
    ("kill -9 bulk worker, import", "crm_import", "bulk", "kill"),
    ("kill -9 interactive worker, sweep", "account_changes", "interactive", "kill"),
    ("Redis restart (queues lost), fan-out", "fanout", None, "redis"),
    ("pg_terminate_backend, import", "crm_import", "bulk", "terminate"),
    ("pg_terminate_backend, sweep", "account_changes", "interactive", "terminate"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=56)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-port", type=int, default=8110)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    if args.faults <= 0 or args.accounts <= 0:
        parser.error("--faults and --accounts: must be positive numbers")
    scratch_db.refuse_protected(parser, args.database)
    args.url = scratch_db.url_beside_environment(parser, args.database)
    return args


class System:
    """The processes under test; a killed worker is started again, as a supervisor would."""

    def __init__(self, url: str, redis: processes.PrivateRedis) -> None:
        self.redis = redis
        self.procs: dict[str, processes.Process] = {}
        for name, queues, concurrency in [("interactive", "interactive", 1), ("bulk", "bulk", 2)]:
            env = processes.django_env(
                database_url=f"{url}?application_name=chaos-{name}", broker_url=redis.url
            )
            self.procs[name] = processes.worker(name, queues, env, LOG_DIR, concurrency)
        env = processes.django_env(
            database_url=f"{url}?application_name=chaos-relay", broker_url=redis.url
        )
        self.procs["relay"] = processes.relay(env, LOG_DIR)
        env = processes.django_env(
            database_url=f"{url}?application_name=chaos-beat", broker_url=redis.url
        )
        self.procs["beat"] = processes.Process(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cs_platform",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(LOG_DIR / "celerybeat-schedule"),
            ],
            env,
            LOG_DIR / "beat.log",
        )

    def start(self) -> None:
        for proc in self.procs.values():
            proc.start()
        for name in ("interactive", "bulk"):
            processes.wait_ready(self.procs[name])

    def restart(self, name: str) -> None:
        self.procs[name].start()
        processes.wait_ready(self.procs[name])

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def inject(system: System, task: str, target: str | None, how: str) -> tuple[str, bool, float]:
    """Inject the fault at a random moment while ``task`` runs; returns (detail, hit, the
    monotonic time of the fault).

    The moment is drawn within the first 70 % of the task's usual run time (a fixed
    0-0.8 s would land after most sweeps and imports, which take 0.2-1 s here, and the
    fault would hit no work)."""
    from scenarios import terminate_backends, usual_seconds, wait_until_running

    from cs_platform.models import OutboxMessage

    usual = usual_seconds(task)
    claimed = wait_until_running(task)
    time.sleep(random.uniform(0, 0.7 * usual))
    running = OutboxMessage.objects.filter(task=task, state="running").first()
    hit = claimed and running is not None
    at = time.monotonic()
    if how == "redis":
        system.redis.restart(down_seconds=random.uniform(0.5, 3))
        return "Redis restarted", hit, at
    if how == "terminate":
        count = terminate_backends(f"chaos-{target}")
        return f"{count} backends of the {target} worker terminated", hit, at
    worker = system.procs[target]
    holder = int(running.worker.rpartition(":")[2]) if running else 0
    if holder and holder != worker.pid and random.random() < 0.5:
        os.kill(holder, signal.SIGKILL)  # the pool process running the task, only
        return f"{target} pool process {holder} killed", hit, at
    worker.kill9()
    time.sleep(random.uniform(0.5, 3))
    system.restart(target)
    return f"{target} worker and its pool killed, restarted", hit, at


def settle(started: float) -> float | None:
    from invariants import settled

    while time.monotonic() - started < SETTLE_TIMEOUT:
        if settled():
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def check(expected: dict) -> dict[str, list[str]]:
    from invariants import CHECKS, nothing_lost

    found = {name: check() for name, check in CHECKS.items()}
    found["nothing lost"] = nothing_lost(expected)
    return found


def main() -> int:
    args = parse_args()
    random.seed(args.seed)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    redis = processes.PrivateRedis(args.redis_port)
    redis.start()
    os.environ.update(CELERY_BROKER_URL=redis.url, DJANGO_DEBUG="0", LOG_LEVEL="WARNING")
    reuse = args.reuse and scratch_db.account_count(args.url) == args.accounts
    scratch_db.prepare(args.url, fresh=not reuse)
    import scenarios

    if not reuse:
        scratch_db.seed(accounts=args.accounts, seed=args.seed)
        from playbooks.services import renewal_queue_rebuild

        scenarios.setup_segments_and_playbooks(args.segments)
        renewal_queue_rebuild(full=True)
        scratch_db.analyze()
    redis.flush()
    system = System(args.url, redis)
    expected = scenarios.Expected()
    rows: dict[str, dict] = defaultdict(lambda: {"n": 0, "hit": 0, "max": 0.0, "violations": 0})
    problems: list[str] = []
    try:
        system.start()
        print(f"System up (logs in {LOG_DIR}); settling ...", flush=True)
        if settle(time.monotonic()) is None:
            print("the system did not settle before the first fault", flush=True)
            return 1
        for n in range(args.faults):
            label, workload, target, how = FAULTS[n % len(FAULTS)]
            task = {
                "recompute_all": scenarios.recompute_all,
                "renewal_rebuild": scenarios.renewal_rebuild,
                "fanout": lambda: scenarios.fanout(expected),
                "crm_import": lambda n=n: scenarios.crm_import(expected, 2000, str(n)),
                "account_changes": lambda: scenarios.account_changes(300),
            }[workload]()
            detail, hit, started = inject(system, task, target, how)
            recovered = settle(started)
            found = check(expected.as_dict())
            violations = [f"{name}: {v}" for name, vs in found.items() for v in vs]
            if recovered is None or recovered > STUCK_SECONDS:
                violations.append(f"settled after {recovered or SETTLE_TIMEOUT:.0f} s (> 2 min)")
            row = rows[label]
            row["n"] += 1
            row["hit"] += hit
            row["max"] = max(row["max"], recovered or SETTLE_TIMEOUT)
            row["violations"] += len(violations)
            problems += [f"fault {n + 1} ({label}): {v}" for v in violations]
            print(
                f"{n + 1:>3}. {label:<40} {'hit' if hit else 'missed'}; {detail}; "
                f"settled in {recovered or SETTLE_TIMEOUT:.0f} s; {len(violations)} violations",
                flush=True,
            )
            settle(time.monotonic())  # the next fault starts from a settled system
    finally:
        system.stop()
        redis.stop()
    print_table(rows, problems)
    return 1 if problems else 0


def print_table(rows: dict, problems: list[str]) -> None:
    print(f"\n{'fault':<42} {'injected':>8} {'hit':>5} {'max settle':>11} {'violations':>10}")
    for label, row in rows.items():
        print(
            f"{label:<42} {row['n']:>8} {row['hit']:>5} {row['max']:>9.0f} s "
            f"{row['violations']:>10}"
        )
    total = sum(r["n"] for r in rows.values())
    hits = sum(r["hit"] for r in rows.values())
    worst = max((r["max"] for r in rows.values()), default=0)
    print(f"{'total':<42} {total:>8} {hits:>5} {worst:>9.0f} s {len(problems):>10}")
    print(
        "\nInvariants checked after every fault: "
        + ", ".join(
            [
                "memberships = fresh evaluation",
                "renewal queue = fresh build",
                "no duplicate events",
                "no duplicate runs / tasks",
                "nothing stuck > 2 min",
                "nothing lost",
            ]
        )
    )
    for problem in problems:
        print("  VIOLATION " + problem)


if __name__ == "__main__":
    sys.exit(main())

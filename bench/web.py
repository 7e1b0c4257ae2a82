"""Benchmark the CSM web UI: 20 concurrent users against gunicorn on 100k accounts.

    .venv/bin/python bench/web.py [--accounts 100000] [--users 20] [--requests 3000]
        [--duration 90] [--think 1.0] [--workers 2×CPUs] [--reuse] [--single 20]

Builds a scratch PostgreSQL database (default ``cs_bench_web``; ``--database-url`` or
``BENCH_DATABASE_URL`` to change; ``cs_platform`` is refused): drops and re-creates it,
migrates, seeds ``seed_demo(accounts=N, seed=1)``, publishes a few segments (recomputed
in-process) and builds the renewal queue. ``--reuse`` keeps an already seeded database.

Then it starts gunicorn on 127.0.0.1 and runs ``--users`` threads, each logged in as a
demo CSM, cycling through my book, the accounts list (random page and sort), an account
detail and the renewal queue, with a random think time of 0.5–1.5 × ``--think`` seconds
between requests (``--think 0`` is a closed loop: it measures saturation, not a user's
wait). The run stops after ``--requests`` requests or ``--duration`` seconds, whichever
comes first, and prints p50 / p95 / max per page. Target: p95 ≤ 150 ms.

Before that load, one user reads each page ``--single`` times in a row (after four
unmeasured rounds): a request's own server time, target ≤ 40 ms. For both, the server
says in a ``Server-Timing`` header (``CS_SERVER_TIMING=1``, cs_platform/server_timing.py)
how long each request took and how much of it was SQL (and how many queries); the rest
is Python and templates. The load average before the run is printed: on a shared
machine, compare runs made back to back. The server uses the environment's cache
(``CACHE_URL``, e.g. a Redis database; else files under var/cache).

Server: gunicorn sync workers, 2 per CPU (4 on 2 cores), one thread each. A request is
CPU-bound Python plus PostgreSQL time on the same host: while one worker waits for its
queries another runs, so one worker per core would leave the CPUs idle, and more than
two per core only adds context switches and memory (and PostgreSQL backends) on a box
that also runs the database. Threads (gthread) would not help: the GIL serialises the
Python part of each request. gunicorn's own rule of thumb, 2 × cores + 1, assumes a host
that runs nothing but the web workers.
"""

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

import scratch_db

ROOT = scratch_db.ROOT
DEFAULT_URL = f"{scratch_db.LOCAL_SERVER}/cs_bench_web"
TARGET_P95_MS = 150
PAGES = ("my book", "accounts list", "account detail", "renewal queue")
SEGMENTS = (
    ("Enterprise", {"all": [{"field": "plan", "op": "eq", "value": "enterprise"}]}),
    ("High ARR", {"all": [{"field": "arr", "op": "gte", "value": 50000}]}),
    ("At risk", {"any": [{"field": "health_score", "op": "lt", "value": 40}]}),
    ("EMEA mid-market", {"all": [{"field": "region", "op": "eq", "value": "EMEA"}]}),
    ("Renewing soon", {"all": [{"field": "renewal_date", "op": "within_next_days", "value": 120}]}),
)


def prepare_database(url: str, accounts: int, reuse: bool) -> None:
    fresh = not (reuse and scratch_db.exists(url))
    if fresh:
        print(f"Creating scratch database {scratch_db.database_name(url)}...", flush=True)
    scratch_db.prepare(url, fresh=fresh)
    from cs_platform.celery import app
    from customers.models import Account
    from demo.accounts import seed_demo
    from playbooks import services as playbook_services
    from segments import services as segment_services
    from segments.models import Segment

    if reuse and Account.objects.count() >= accounts:
        print(f"Reusing {Account.objects.count():,} seeded accounts.", flush=True)
        scratch_db.analyze()
        return
    started = time.perf_counter()
    seed_demo(accounts=accounts, seed=1)
    print(f"Seeded {accounts:,} accounts in {time.perf_counter() - started:.1f} s", flush=True)
    # The recompute queued by each publish runs in this process (no worker, no broker).
    app.conf.task_always_eager = True
    started = time.perf_counter()
    for name, rule in SEGMENTS:
        if not Segment.objects.filter(name=name).exists():
            segment_services.segment_create(name=name, rule=rule, publish=True)
    playbook_services.renewal_queue_rebuild(full=True)
    print(
        f"{len(SEGMENTS)} segments recomputed and renewal queue built in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    scratch_db.analyze()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "cs_platform.settings.local",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        # Each response says its SQL and Python time (cs_platform/server_timing.py).
        "CS_SERVER_TIMING": "1",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "cs_platform.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, base
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("gunicorn did not start in 30 s")


def log_in(session, base: str, username: str, password: str) -> None:
    page = session.get(f"{base}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
    )
    if "/accounts/login/" in response.url:
        raise RuntimeError(f"login failed for {username}")


class Run:
    def __init__(self, max_requests: int) -> None:
        self.lock = threading.Lock()
        self.remaining = max_requests
        self.deadline = 0.0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.timings: dict[str, list[dict[str, float]]] = defaultdict(list)

    def start(self, duration: float) -> None:
        self.deadline = time.monotonic() + duration

    def take(self) -> bool:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() > self.deadline:
                return False
            self.remaining -= 1
            return True

    def record(self, page: str, seconds: float, ok: bool, timing: dict[str, float]) -> None:
        with self.lock:
            self.latencies[page].append(seconds)
            if timing:
                self.timings[page].append(timing)
            if not ok:
                self.errors[page] += 1


def server_timing(header: str) -> dict[str, float]:
    """``{"total": ms, "sql": ms, "python": ms, "queries": n}`` of a ``Server-Timing``
    header (cs_platform/server_timing.py); empty when the header is missing."""
    timing: dict[str, float] = {}
    for metric in filter(None, (part.strip() for part in header.split(","))):
        name, *params = metric.split(";")
        for param in params:
            key, _, value = param.partition("=")
            if key == "dur":
                timing[name] = float(value)
            elif key == "desc" and name == "sql":
                timing["queries"] = float(value.strip('"').split()[0])
    return timing


def page_path(page: str, rng: random.Random, ids: list[int]) -> str:
    if page == "my book":
        return "/"
    if page == "accounts list":
        sort = rng.choice(["name", "-arr", "renewal", "-health", "csm"])
        return f"/accounts/?page={rng.randint(1, 200)}&sort={sort}"
    if page == "account detail":
        return f"/accounts/{rng.choice(ids)}/"
    return "/renewals/"


def user(
    run: Run,
    ready: threading.Barrier,
    base: str,
    username: str,
    password: str,
    ids: list[int],
    think: float,
    index: int,
) -> None:
    import requests

    rng = random.Random(index)
    session = requests.Session()
    try:
        log_in(session, base, username, password)
    finally:
        # Logins (deliberately slow password hashing) are not measured: start together.
        ready.wait()
    step = rng.randrange(len(PAGES))
    while run.take():
        page = PAGES[step % len(PAGES)]
        step += 1
        path = page_path(page, rng, ids)
        started = time.perf_counter()
        timing: dict[str, float] = {}
        try:
            response = session.get(base + path, timeout=30)
            ok = response.status_code == 200
            timing = server_timing(response.headers.get("Server-Timing", ""))
        except requests.RequestException:
            ok = False
        run.record(page, time.perf_counter() - started, ok, timing)
        if think:
            time.sleep(think * rng.uniform(0.5, 1.5))


def single_requests(base: str, username: str, password: str, ids: list[int], rounds: int):
    """Each page ``rounds`` times in a row by one user (after one unmeasured round per
    worker, so no worker is cold): the server time of a request alone."""
    import requests

    session = requests.Session()
    log_in(session, base, username, password)
    rng = random.Random(0)
    timings: dict[str, list[dict[str, float]]] = defaultdict(list)
    for round_ in range(rounds + 4):
        for page in PAGES:
            response = session.get(base + page_path(page, rng, ids), timeout=30)
            if round_ >= 4 and response.status_code == 200:
                timings[page].append(server_timing(response.headers.get("Server-Timing", "")))
    return timings


def print_server_split(title: str, timings: dict[str, list[dict[str, float]]]) -> None:
    """Per page: the server's median and p95 time, and the median SQL time, Python time
    and number of queries (from the Server-Timing header)."""
    print(title)
    print(
        f"{'page':<16}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'SQL p50':>9}{'Python p50':>12}{'queries':>9}"
    )
    for page in PAGES:
        rows = timings.get(page) or []
        if not rows:
            continue
        totals = [row["total"] for row in rows]
        print(
            f"{page:<16}{len(rows):>9}{statistics.median(totals):>9.1f}"
            f"{percentile(totals, 95):>9.1f}"
            f"{statistics.median(row['sql'] for row in rows):>9.1f}"
            f"{statistics.median(row['python'] for row in rows):>12.1f}"
            f"{statistics.median(row['queries'] for row in rows):>9.0f}"
        )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument(
        "--single", type=int, default=20, help="rounds of one request at a time first"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not scratch_db.is_postgres_url(args.database_url):
        parser.error("--database-url must point to a scratch PostgreSQL database")
    scratch_db.refuse_protected(parser, scratch_db.database_name(args.database_url))

    prepare_database(args.database_url, args.accounts, args.reuse)
    from customers.models import Account
    from demo.accounts import DEMO_PASSWORD, demo_logins

    csms = [login.username for login in demo_logins() if login.role == "CSM"]
    ids = list(Account.objects.order_by("?").values_list("id", flat=True)[:2000])
    from django.db import connections

    connections.close_all()

    load_before = os.getloadavg()
    process, base = start_server(args.database_url, args.workers)
    try:
        alone = single_requests(base, csms[0], DEMO_PASSWORD, ids, args.single)
        run = Run(args.requests)
        # The clock starts when every user is logged in (set before anyone is released).
        ready = threading.Barrier(args.users + 1, action=lambda: run.start(args.duration))
        threads = [
            threading.Thread(
                target=user,
                args=(run, ready, base, csms[i % len(csms)], DEMO_PASSWORD, ids, args.think, i),
                daemon=True,
            )
            for i in range(args.users)
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    print(
        f"\nload average before the run: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"
    )
    print_server_split(f"\nOne request at a time ({args.single} rounds), server time:", alone)
    total = sum(len(v) for v in run.latencies.values())
    print(
        f"\n{args.users} users, {total:,} requests in {elapsed:.1f} s "
        f"({total / elapsed:.1f} req/s), think time {args.think:g} s, "
        f"gunicorn {args.workers} sync workers, {args.accounts:,} accounts"
    )
    print(f"{'page':<16}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    worst = 0.0
    for page in PAGES:
        values = run.latencies.get(page, [])
        if not values:
            continue
        p50, p95 = statistics.median(values) * 1000, percentile(values, 95) * 1000
        worst = max(worst, p95)
        print(
            f"{page:<16}{len(values):>9}{run.errors.get(page, 0):>8}"
            f"{p50:>9.1f}{p95:>9.1f}{max(values) * 1000:>9.1f}"
        )
    print_server_split("Under that load, server time:", run.timings)
    verdict = "meets" if worst <= TARGET_P95_MS else "misses"
    print(f"worst p95 (client) {worst:.1f} ms: {verdict} the {TARGET_P95_MS} ms target")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

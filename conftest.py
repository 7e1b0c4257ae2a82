"""Project-wide fixtures: users in their roles, a pinned "today", and a real Celery worker
process on the real broker for integration tests."""

import importlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from cs_platform.roles import CSMS, MANAGERS

ROOT = Path(__file__).resolve().parent
# The log of the worker process a test starts (celery_worker_process): one per xdist worker.
WORKER_LOG = ROOT / "var" / f"test-worker-{os.environ.get('PYTEST_XDIST_WORKER', 'serial')}.log"


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis://")


def redis_reachable() -> bool:
    if not broker_is_redis():
        return False
    import redis

    # A generous timeout: a ping that times out on a loaded machine (two test processes,
    # each starting worker processes) would silently skip every real-broker test.
    try:
        return bool(redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping())
    except redis.exceptions.RedisError:
        return False


def is_xdist_controller(config: pytest.Config) -> bool:
    """True in the pytest-xdist process that only hands out tests to its workers."""
    return bool(config.getoption("numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, give every worker the same hash seed before the workers start:
    each worker collects the tests itself, and xdist refuses to run when their test ids
    differ, which they do where an id shows a set (its order follows the string hashes,
    which Python randomizes per process)."""
    if is_xdist_controller(config) and "PYTHONHASHSEED" not in os.environ:
        os.environ["PYTHONHASHSEED"] = str(random.randint(1, 2**32 - 1))


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the embedded filesystem broker, start with an empty queue: no worker consumes
    what tests queue there, so each run would otherwise leave its messages behind. (The
    folders are this process's own: see cs_platform/settings/test.py.)"""
    queue_folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if queue_folder and not is_xdist_controller(session.config):
        for message in Path(queue_folder).glob("*.msg"):
            message.unlink(missing_ok=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests marked slow run first: under pytest-xdist the other process works through the
    # rest meanwhile, instead of one process finishing alone with a long test at the end.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if redis_reachable():
        return
    reason = "needs a real Redis broker: set CELERY_BROKER_URL=redis://… (see README)"
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED', 'random')} (set it to repeat a run)",
        f"cs-platform database: {db['ENGINE'].rsplit('.', 1)[-1]} ({db.get('HOST') or db['NAME']})",
        f"cs-platform broker: {settings.CELERY_BROKER_URL.split('@')[-1]}"
        + ("" if redis_reachable() else " (no Redis: tests marked 'redis' are skipped)"),
    ]


@pytest.fixture
def today(settings) -> date:
    """Pin the product's "today" (cs_platform.clock.today) for the test."""
    pinned = date(2026, 11, 22)
    settings.CS_TODAY = pinned
    return pinned


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Every browser test drives Debian's Chromium, never a downloaded browser."""
    from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


# The data migrations whose rows tests expect (default renewal windows, beat schedules).
DATA_MIGRATIONS = (
    ("cs_platform.migrations.0002_relay_schedule", "create_schedule"),
    ("playbooks.migrations.0002_default_windows", "create_windows"),
    ("playbooks.migrations.0003_schedules", "create_schedules"),
    ("playbooks.migrations.0006_review_reminder_schedule", "create_schedule"),
    ("playbooks.migrations.0010_run_lease_recover_schedule", "create_schedule"),
    ("segments.migrations.0003_recompute_schedule", "create_schedules"),
    ("segments.migrations.0005_analytics_warm_schedule", "create_schedule"),
    ("segments.migrations.0009_day_change_schedule", "create_schedule"),
    ("usage.migrations.0002_retention_schedule", "create_schedule"),
    ("health.migrations.0003_recompute_schedule", "create_schedule"),
)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache (the tests' is per-process memory): a key left
    by an earlier test, e.g. the sweep's "already queued" debounce mark, would otherwise
    make this one skip work it expects."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _data_migration_rows(request: pytest.FixtureRequest) -> None:
    """Tests that use ``transactional_db`` (live server, real worker) flush every table
    afterwards, data-migration rows included (post_migrate re-creates only the groups).
    Put back the default renewal windows and beat schedules, so that every test starts
    from what a migrated database holds, whatever ran before it."""
    uses_db = {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    if not uses_db and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue("transactional_db" if uses_db - {"db"} else "db")
    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    from playbooks.models import RenewalWindow

    if RenewalWindow.objects.exists() and PeriodicTask.objects.exists():
        return
    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)


def _user_in(group_name: str, username: str, **extra):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def manager(db):
    return _user_in(MANAGERS, "manager", is_staff=True)


@pytest.fixture
def csm(db):
    return _user_in(CSMS, "csm")


@pytest.fixture
def other_csm(db):
    return _user_in(CSMS, "other_csm")


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run queued Celery tasks in-process (a task queued on commit then runs at the
    commit, in the test), for unit tests of what a queued task does."""
    from cs_platform.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def _worker_env() -> dict[str, str]:
    """Environment for a worker process that talks to this test run's database and Redis
    database. Both are passed in full; PYTEST_XDIST_WORKER is removed so that the test
    settings do not offset the Redis database a second time."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env["DJANGO_SETTINGS_MODULE"] = "cs_platform.settings.test"
    if db["ENGINE"].endswith("postgresql"):
        user = db.get("USER") or "postgres"
        env["DATABASE_URL"] = (
            f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    return env


@contextmanager
def celery_worker(*extra_args: str) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the real broker and this test's database (both
    queues unless ``extra_args`` say otherwise, e.g. ``-Q interactive``)."""
    from cs_platform.celery import app

    app.control.purge()
    WORKER_LOG.parent.mkdir(exist_ok=True)
    log = open(WORKER_LOG, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cs_platform",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *extra_args,
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited: {WORKER_LOG.read_text()}")
            if "ready." in WORKER_LOG.read_text():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("worker did not start in 30 s")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the real Redis broker and this test's database."""
    if not redis_reachable():
        pytest.skip("needs a real Redis broker")
    with celery_worker() as process:
        yield process


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()

"""Test settings: PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set,
the embedded defaults otherwise.

Safe for pytest-xdist (``pytest -n 2``): every worker process (``PYTEST_XDIST_WORKER`` =
gw0, gw1…) gets its own test database (pytest-django appends ``_gw0``… to its name), its
own Redis database and its own broker folders, so that two workers never see each other's
rows, tasks or files."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .local import *  # noqa: F403
from .local import (
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_BROKER_URL,
    DATABASES,
    REST_FRAMEWORK,
    VAR_DIR,
)

# "gw0", "gw1"… under pytest-xdist; empty in a serial run and in processes started
# for a test (a worker started by the celery_worker_process fixture gets the final broker
# URL and database name from its test, with this variable removed).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
XDIST_WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw") or 0)


def redis_database_for_worker(url: str, index: int) -> str:
    """``redis://host:port/N`` -> ``redis://host:port/N+index``: the base database of the
    run plus the xdist worker's index (CI gives a run databases 3-4; a helper's run N-N+3)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + index}"))


def rebased_broker_folders(options: dict, old_root: Path, new_root: Path) -> dict:
    """The filesystem transport's options with every folder moved from ``old_root`` to
    ``new_root`` (created: kombu does not create its folders)."""
    rebased = dict(options)
    for key, value in options.items():
        if key.endswith(("_folder", "_folder_in", "_folder_out")):
            folder = new_root / Path(value).relative_to(old_root)
            folder.mkdir(parents=True, exist_ok=True)
            rebased[key] = str(folder)
    return rebased


DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min"},
}
# One process, nothing shared: each test run starts with an empty cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Parallel sessions on one PostgreSQL server each get their own test database. (SQLite's
# test database stays in memory, one per process.)
if os.environ.get("CS_TEST_DB_NAME") and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["CS_TEST_DB_NAME"]}

if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_URL = redis_database_for_worker(CELERY_BROKER_URL, XDIST_WORKER_INDEX)
    # Celery prefers the environment variable to the setting: align it, or this worker's
    # tasks would still go to the run's base database (another xdist worker's).
    os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
else:
    # Tasks a test queues without a worker stay in these folders: never in a dev server's
    # (var/celery/), nor in another xdist worker's.
    CELERY_BROKER_TRANSPORT_OPTIONS = rebased_broker_folders(
        CELERY_BROKER_TRANSPORT_OPTIONS,
        VAR_DIR / "celery",
        VAR_DIR / "test-celery" / (XDIST_WORKER or "serial"),
    )

"""Test settings: PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set,
the embedded defaults otherwise."""

import os

from .local import *  # noqa: F403
from .local import DATABASES, REST_FRAMEWORK

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
# Parallel sessions on one PostgreSQL server each get their own test database.
if os.environ.get("CS_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["CS_TEST_DB_NAME"]}

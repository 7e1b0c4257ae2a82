"""Development and embedded-default settings: safe to run with no environment at all."""

import os

from .base import *  # noqa: F403
from .base import SECRET_KEY

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = SECRET_KEY or "local-development-only-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

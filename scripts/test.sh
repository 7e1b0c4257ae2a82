#!/usr/bin/env bash
# Sets up everything the tests need and runs the whole suite (plus ruff).
# Uses PostgreSQL + Redis on 127.0.0.1 when they are reachable (as in CI), the embedded
# defaults (SQLite, no broker server) otherwise. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
mkdir -p var artifacts

reachable() { .venv/bin/python - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if [ -z "${DATABASE_URL:-}" ] && reachable 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/cs_platform"
fi
if [ -z "${CELERY_BROKER_URL:-}" ] && reachable 127.0.0.1 6379; then
  # Database 3: a dev worker on database 0 must not steal the tests' tasks.
  export CELERY_BROKER_URL="redis://127.0.0.1:6379/3"
fi
echo "Tests use database: ${DATABASE_URL:-embedded SQLite}"
echo "Tests use broker:   ${CELERY_BROKER_URL:-embedded filesystem transport (Redis tests skipped: no Redis reachable)}"
if [ ! -x /usr/bin/chromium ]; then
  echo "No /usr/bin/chromium: browser tests are skipped (apt-get install chromium)"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { echo "ruff format would change files (run: .venv/bin/ruff format .)"; exit 1; }
exec env DJANGO_ALLOW_ASYNC_UNSAFE=true .venv/bin/pytest "$@"

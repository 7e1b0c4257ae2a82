#!/usr/bin/env bash
# Sets up everything the tests need and runs the whole suite (plus ruff), in parallel
# processes (pytest-xdist: TEST_PROCESSES, default 2; 0 runs in this one process).
# Uses PostgreSQL + Redis on 127.0.0.1 when they are reachable (as in CI), the embedded
# defaults (SQLite, a filesystem broker) otherwise, or always with CS_TEST_EMBEDDED=1.
# Extra arguments go to pytest (a later -n overrides TEST_PROCESSES).
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

if [ "${CS_TEST_EMBEDDED:-0}" = 1 ]; then
  unset DATABASE_URL CELERY_BROKER_URL
else
  if [ -z "${DATABASE_URL:-}" ] && reachable 127.0.0.1 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/cs_platform"
  fi
  if [ -z "${CELERY_BROKER_URL:-}" ] && reachable 127.0.0.1 6379; then
    # Databases 3, 4, …: one per test process (the test settings add the xdist worker's
    # index), and never database 0, where a dev worker would steal the tests' tasks.
    export CELERY_BROKER_URL="redis://127.0.0.1:6379/3"
  fi
fi
PROCESSES=${TEST_PROCESSES:-2}
echo "Tests use database: ${DATABASE_URL:-embedded SQLite}"
echo "Tests use broker:   ${CELERY_BROKER_URL:-embedded filesystem transport (Redis tests skipped: no Redis reachable)}"
echo "Test processes:     ${PROCESSES} (TEST_PROCESSES)"
if [ ! -x /usr/bin/chromium ]; then
  echo "No /usr/bin/chromium: browser tests are skipped (apt-get install chromium)"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { echo "ruff format would change files (run: .venv/bin/ruff format .)"; exit 1; }
# worksteal: a process that runs out of tests takes some of the other's, so one long test
# (the API fuzz run, ~75 s) does not leave the other process idle at the end.
exec env DJANGO_ALLOW_ASYNC_UNSAFE=true .venv/bin/pytest -n "$PROCESSES" --dist worksteal "$@"

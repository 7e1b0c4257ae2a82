#!/usr/bin/env bash
# Sets up and runs the product on http://127.0.0.1:8000 with demo data: web, one Celery
# worker for both queues (interactive and bulk) with the beat scheduler, and the outbox
# relay. Production runs each queue's workers apart (see docs/operations.md). With no
# environment it uses the embedded defaults (SQLite and a broker that needs no server);
# set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL and Redis. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
mkdir -p var
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-cs_platform.settings.local}

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo --accounts "${DEMO_ACCOUNTS:-2000}" --seed 1 --if-empty
.venv/bin/python manage.py seed_demo_workspace

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
.venv/bin/celery -A cs_platform worker --beat --loglevel=INFO --concurrency=2 \
  --schedule var/celerybeat-schedule >var/worker.log 2>&1 &
pids+=($!)
# The outbox relay: sends recorded work to the broker (due, lost, or held by a dead worker).
.venv/bin/python manage.py outbox_relay >var/relay.log 2>&1 &
pids+=($!)
echo "Worker (both queues), scheduler and outbox relay running (logs: var/worker.log, var/relay.log)"
echo "Open http://127.0.0.1:8000 (API docs: http://127.0.0.1:8000/api/docs/)"
.venv/bin/python manage.py runserver 127.0.0.1:8000 &
pids+=($!)
wait -n "${pids[@]}"

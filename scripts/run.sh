#!/usr/bin/env bash
# Sets up and runs the product on http://127.0.0.1:$PORT (default 8000) with demo data: web,
# one Celery worker for both queues (interactive and bulk) with the beat scheduler, and the
# outbox relay. Production runs each queue's workers apart (see docs/operations.md). With
# no environment it uses the embedded defaults (SQLite and a broker that needs no server);
# set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL and Redis. The web app runs with debug
# off (DJANGO_DEBUG=1 for Django's debug pages), under gunicorn, its static files served by
# WhiteNoise. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
mkdir -p var
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-cs_platform.settings.local}
export DJANGO_DEBUG=${DJANGO_DEBUG:-0}
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
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
echo "Open http://$HOST:$PORT (API docs: http://$HOST:$PORT/api/docs/)"
.venv/bin/gunicorn cs_platform.wsgi --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --access-logfile var/web-access.log &
pids+=($!)
wait -n "${pids[@]}"

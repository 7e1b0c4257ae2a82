"""With no environment at all the project runs on SQLite and a broker that needs no server:
migrate, seed, serve a page, and run a task in a worker process."""

import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from conftest import ROOT

REQUEST_AND_ENQUEUE = """
import django
django.setup()
from decimal import Decimal
from django.test import Client
from customers.models import Account
from customers.tasks import accounts_rederive_task

client = Client()
login = client.post("/accounts/login/", {"username": "csm1", "password": "demo-pass-2026"})
assert login.status_code == 302, f"demo login failed: {login.status_code}"
response = client.get("/")
assert response.status_code == 200, response.status_code
account = Account.objects.filter(arr__gt=0).order_by("id").first()
Account.objects.filter(pk=account.pk).update(arr=Decimal("0"))
accounts_rederive_task.delay(account_ids=[account.pk])
print(f"home=200 account={account.pk} arr={account.arr}")
"""


def clean_env(var_dir: Path) -> dict[str, str]:
    """Nothing from the caller's environment but PATH: no DATABASE_URL, no broker."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(var_dir.parent),
        "CS_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "cs_platform.settings.local",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def stored_arr(database: Path, account_id: int) -> Decimal:
    with sqlite3.connect(database) as connection:
        (value,) = connection.execute(
            "SELECT arr FROM customers_account WHERE id = ?", [account_id]
        ).fetchone()
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_embedded_default_boots_serves_a_page_and_runs_a_task(tmp_path):
    # Given a fresh machine: no configuration, an empty var directory
    var_dir = tmp_path / "var"
    env = clean_env(var_dir)
    # When it is migrated and seeded
    run(["manage.py", "migrate", "--noinput"], env)
    seeded = run(["manage.py", "seed_demo", "--accounts", "50", "--seed", "1"], env)
    assert "Seeded 50 accounts" in seeded and "csm1" in seeded
    workspace = run(["manage.py", "seed_demo_workspace"], env)
    assert "segment 'Top 50 by ARR': 50 members" in workspace
    database = var_dir / "db.sqlite3"
    assert database.exists()
    # Then a demo user can log in and see the home page, and a task can be queued
    out = run(["-c", REQUEST_AND_ENQUEUE], env)
    assert "home=200" in out
    fields = dict(part.split("=") for part in out.split())
    account_id, arr = int(fields["account"]), Decimal(fields["arr"])
    assert stored_arr(database, account_id) == 0
    # And a worker on the filesystem broker picks the task up and repairs the account
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cs_platform",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and stored_arr(database, account_id) != arr:
            if worker.poll() is not None:
                break
            time.sleep(0.3)
        assert stored_arr(database, account_id) == arr, (tmp_path / "worker.log").read_text()
        # The broker kept its files under the var directory, not in the working directory
        assert (var_dir / "celery" / "control").is_dir()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()

"""Real processes for the benchmarks and the chaos script: a private Redis server on its
own port (never the shared one: it may be restarted), Celery workers per queue and the
outbox relay loop, each in its own process group so that it can be killed whole."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class PrivateRedis:
    """A ``redis-server`` on ``port`` with no persistence: a restart loses every queued
    message, the worst case for the outbox to recover from."""

    def __init__(self, port: int) -> None:
        if port == 6379:
            raise ValueError("refusing to run a private Redis on the shared port 6379")
        self.port = port
        self.process: subprocess.Popen | None = None
        self.folder = tempfile.mkdtemp(prefix=f"redis-{port}-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", self.folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.kill()
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def django_env(*, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "DJANGO_SETTINGS_MODULE": "cs_platform.settings.local",
            "DJANGO_DEBUG": "0",
            "LOG_LEVEL": env.get("LOG_LEVEL", "WARNING"),
            **extra,
        }
    )
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


class Process:
    """A child process in its own session (process group), logging to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_since_start(self) -> str:
        with open(self.log, errors="replace") as log:
            log.seek(self.log_offset)
            return log.read()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """The pids of this process's children (a prefork worker's pool processes)."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as listing:
                return [int(pid) for pid in listing.read().split()]
        except OSError:
            return []

    def kill9(self) -> None:
        """SIGKILL the whole process group (the worker and its pool), as a crash would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


def worker(
    name: str, queues: str, env: dict[str, str], log_dir: Path, concurrency: int = 1
) -> Process:
    """A ``celery worker`` for ``queues`` (prefork pool, ``concurrency`` children)."""
    return Process(
        name,
        [sys.executable, "-m", "celery", "-A", "cs_platform", "worker", "-Q", queues]
        + [f"--concurrency={concurrency}", "-n", f"{name}@%h", "--loglevel=INFO"]
        + ["--without-gossip", "--without-mingle"],
        env,
        log_dir / f"{name}.log",
    )


def relay(env: dict[str, str], log_dir: Path) -> Process:
    """The ``manage.py outbox_relay`` loop (one pass a second)."""
    return Process(
        "relay",
        [sys.executable, "manage.py", "outbox_relay", "--interval", "1"],
        env,
        log_dir / "relay.log",
    )


def wait_ready(worker_process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker_process.log.exists() and "ready." in worker_process.log_since_start():
            return
        if not worker_process.alive():
            raise RuntimeError(f"{worker_process.name} exited; see {worker_process.log}")
        time.sleep(0.2)
    raise RuntimeError(f"{worker_process.name} not ready in {timeout} s; see {worker_process.log}")

"""Which process holds an outbox row: ``host:pid``, and whether that process is gone."""

import os
import socket


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(worker: str) -> bool:
    """Whether ``worker`` (``host:pid``) ran on this host and no longer exists: a worker
    killed mid-task, whose row need not wait for its lease to end. Never true for another
    host's process (its lease decides) or for this process."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False

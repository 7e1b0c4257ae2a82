"""A task for the outbox tests: it records each run and does what the test asks (succeed,
fail, ask for a retry, hit a transient database error, lose its database connection)."""

import threading
import time

from django.db import OperationalError, connection, connections

from cs_platform.executions import RetryLater
from cs_platform.tasks import cs_task

RUNS: list[tuple] = []


@cs_task(name="tests.outbox_probe", max_retries=2)
def outbox_probe_task(label: str, outcome: str = "ok") -> str:
    RUNS.append((label, outcome))
    if outcome == "retry_later":
        raise RetryLater(30, "the receiver asked for later")
    if outcome == "db_error":
        raise OperationalError("server closed the connection unexpectedly")
    if outcome.startswith("connection_lost"):
        backend_terminate()
        if outcome == "connection_lost_then_db_error":
            # As from a query in another thread: this thread's connection saw nothing.
            raise OperationalError("terminating connection due to administrator command")
    if outcome == "bug":
        raise ValueError("a bug")
    return label


def backend_terminate() -> None:
    """``pg_terminate_backend`` of this thread's connection, from another connection, and
    wait until the backend is gone (as the chaos script does to a worker). PostgreSQL
    only. This thread's connection is not told: its next statement fails."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()

    def terminate() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                for _ in range(200):
                    cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                    if cursor.fetchone() is None:
                        return
                    time.sleep(0.01)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=terminate)
    thread.start()
    thread.join()

"""A task for the outbox tests: it records each run and does what the test asks (succeed,
fail, ask for a retry, hit a transient database error)."""

from django.db import OperationalError

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
    if outcome == "bug":
        raise ValueError("a bug")
    return label

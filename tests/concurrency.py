"""Two transactions at once, for tests of what happens when writers overlap (PostgreSQL:
each thread has its own connection)."""

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_while_held(
    *,
    holder: Callable[[], Any],
    hold_after: str,
    other: Callable[[], Any],
    hold_seconds: float = 1.0,
) -> dict[str, Any]:
    """Run ``holder`` in one thread (its own connection), holding its transaction open
    for ``hold_seconds`` after its first statement containing ``hold_after``; once the
    hold begins, run ``other`` in another thread. Returns {"holder": its result,
    "other": its result, "other_seconds": how long ``other`` took, "errors": [...]}."""
    results: dict[str, Any] = {"errors": []}
    held = threading.Event()

    def hold(execute, sql, params, many, context):  # noqa: ANN001, ANN202 (Django's)
        outcome = execute(sql, params, many, context)
        if hold_after in sql and not held.is_set():
            held.set()
            time.sleep(hold_seconds)
        return outcome

    def run_holder() -> None:
        try:
            with connections["default"].execute_wrapper(hold):
                results["holder"] = holder()
        except Exception as exc:  # noqa: BLE001 (reported by the caller's assertions)
            results["errors"].append(exc)
        finally:
            held.set()
            connections.close_all()

    def run_other() -> None:
        try:
            held.wait(10)
            started = time.monotonic()
            results["other"] = other()
            results["other_seconds"] = time.monotonic() - started
        except Exception as exc:  # noqa: BLE001
            results["errors"].append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_holder), threading.Thread(target=run_other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results

"""The ``Server-Timing`` header of a request split into SQL and Python time, for the web
bench (``bench/web.py``): on only with ``CS_SERVER_TIMING=1`` (the header would tell any
client how long the queries took)."""

import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse


class _QueryClock:
    """A database execute wrapper adding up the time and number of the queries run."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


class ServerTimingMiddleware:
    """Adds ``Server-Timing: total;dur=…, sql;dur=…;desc="N queries", python;dur=…``
    (milliseconds) to every response; first in the middleware list, so ``total`` covers
    every other middleware (session and user loading included)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        clock = _QueryClock()
        started = time.perf_counter()
        with connections["default"].execute_wrapper(clock):
            response = self.get_response(request)
        total = (time.perf_counter() - started) * 1000
        sql = clock.seconds * 1000
        response["Server-Timing"] = (
            f'total;dur={total:.1f}, sql;dur={sql:.1f};desc="{clock.queries} queries", '
            f"python;dur={total - sql:.1f}"
        )
        return response

"""The analytics page's cached reads, and the scheduled warm-up that fills them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

from cs_platform import clock
from cs_platform.db import table_name

from ..models import MembershipEvent, Segment, SegmentSnapshot
from .cohorts import DEFAULT_COHORT_MONTHS, cohort_retention, segment_growth
from .metrics import segment_figures
from .overlap import MAX_SEGMENTS
from .statements import run_analytic_statement, run_concurrently

T = TypeVar("T")

DEFAULT_CACHE_SECONDS = 300


def data_stamp() -> str:
    """Changes whenever membership history or a snapshot is written, or a segment is
    created or deleted (two index lookups and a count). Contract and account edits are not
    in it: the time limit bounds those."""
    row = run_analytic_statement(
        f"SELECT (SELECT MAX(id) FROM {table_name(MembershipEvent)}),"
        f" (SELECT MAX(id) FROM {table_name(SegmentSnapshot)}),"
        f" (SELECT COUNT(*) FROM {table_name(Segment)})",
        [],
    )[0]
    return ":".join(str(value) for value in row)


def cached(selector: Callable[..., T], **kwargs: Any) -> T:
    """``selector(**kwargs)``, kept in Django's cache for ``CS_ANALYTICS_CACHE_SECONDS``
    (default 300; 0 turns it off) and until membership or snapshots change. The analytics
    page uses it, so a manager paging through sections does not recompute every figure;
    the API and the segment page compute live."""
    seconds = int(getattr(settings, "CS_ANALYTICS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
    if seconds <= 0:
        return selector(**kwargs)
    identity = repr((selector.__module__, selector.__qualname__, sorted(kwargs.items())))
    digest = hashlib.sha256(f"{identity}|{data_stamp()}".encode()).hexdigest()
    key = f"cs:analytics:{digest}"
    value = cache.get(key)
    if value is None:
        value = selector(**kwargs)
        cache.set(key, value, seconds)
    return value


def default_segments() -> list[Segment]:
    """The segments the analytics page shows when none are picked: the active ones, by name,
    at most ``MAX_SEGMENTS``."""
    return list(Segment.objects.filter(is_active=True).order_by("name", "id")[:MAX_SEGMENTS])


def page_defaults_warm() -> None:
    """Compute the figures the analytics page shows as it opens (no query: the default
    segments as of today, the default cohorts) into the shared cache, under the keys the
    page's sections ask for. The scheduled job runs it every few minutes: after a recompute
    the computing happens in a worker, and a manager opening the page gets the figures from
    the cache."""
    ids = [s.pk for s in default_segments()]
    today = clock.today()
    run_concurrently(
        {
            "figures": lambda: cached(segment_figures, segment_ids=ids, as_of=today),
            "growth": lambda: cached(segment_growth, segment_ids=ids, as_of=today),
            "cohorts": lambda: cached(
                cohort_retention,
                as_of=today,
                months=DEFAULT_COHORT_MONTHS,
                segment_id=None,
                plan=None,
            ),
        }
    )

"""The building blocks of docs/metrics.md in SQL: the end of a day, the window of a day, a
contract that counts on a day, and a segment's population as of a day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from cs_platform import clock
from cs_platform.db import table_name
from customers.models import ContractStatus

from ..models import Membership, MembershipEvent, MembershipEventKind
from .statements import analytics_sql, moment_param, sql_placeholders

WINDOW_DAYS = 365


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in the configured time zone ("the end of D")."""
    return datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone()
    )


def window_start(as_of: date) -> date:
    return as_of - timedelta(days=WINDOW_DAYS)


def contract_counts_on(alias: str, day_sql: str) -> str:
    """SQL predicate: contract ``alias`` counts on the date expression ``day_sql``."""
    return (
        f"{alias}.status <> '{ContractStatus.CANCELLED.value}' AND {alias}.start_date <= {day_sql}"
        f" AND ({alias}.end_date >= {day_sql} OR {alias}.status = '{ContractStatus.ACTIVE.value}')"
    )


def members_as_of_sql(segment_ids: Sequence[int], as_of: date) -> tuple[str, list[Any]]:
    """SQL selecting ``(segment_id, account_id)`` for the members of ``segment_ids`` at the end
    of ``as_of``: the accounts whose last MembershipEvent up to then (by ``at``, then id) is
    ``entered`` (``segments/sql/<vendor>/analytics_members_as_of.sql``). For today (and
    later) the current Membership rows say the same thing more cheaply."""
    ids_sql = sql_placeholders(segment_ids)
    if as_of >= clock.today():
        return (
            f"SELECT m.segment_id, m.account_id FROM {table_name(Membership)} m"
            f" WHERE m.segment_id IN ({ids_sql})",
            list(segment_ids),
        )
    sql = analytics_sql(
        "members_as_of",
        membership_event=table_name(MembershipEvent),
        segment_ids=ids_sql,
        entered=MembershipEventKind.ENTERED.value,
        exited=MembershipEventKind.EXITED.value,
    )
    return sql, [*segment_ids, moment_param(end_of_day(as_of))]


def members_since_began_sql(segment_ids: Sequence[int], as_of: date) -> tuple[str, list[Any]]:
    """SQL selecting ``(segment_id, account_id)`` for every account that entered
    ``segment_ids`` by the end of ``as_of``, whether still a member or not
    (``segments/sql/analytics_members_since_began.sql``): the window population of a segment
    younger than the window, before the ARR-on-S filter."""
    sql = analytics_sql(
        "members_since_began",
        membership_event=table_name(MembershipEvent),
        segment_ids=sql_placeholders(segment_ids),
        entered=MembershipEventKind.ENTERED.value,
    )
    return sql, [*segment_ids, moment_param(end_of_day(as_of))]

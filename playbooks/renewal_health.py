"""Health on the renewal queue (docs/health.md, "Screens"): each entry's health score and
status, the "ARR at risk" of the queue (the ARR of entries whose account is red or
yellow), and the queue's health sorts. Reads only: annotations on the queue's query, so a
page of entries stays one query."""

from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from customers.models import MONEY
from health.models import HealthStatus

from .models import RenewalQueueEntry

AT_RISK = (HealthStatus.RED, HealthStatus.YELLOW)
# ?sort= of the renewal queue → its label; "" is the queue's own order (soonest first).
SORTS = {
    "": "Renewal date, tightest first",
    "at_risk": "ARR at risk (red and yellow), largest first",
    "health": "Health score, lowest first",
}
_TIE_BREAK = ("renewal_date", "contract_id", "window__days")


def _at_risk() -> Q:
    return Q(account__health__status__in=AT_RISK)


def renewals_with_health(entries: QuerySet[RenewalQueueEntry]) -> QuerySet[RenewalQueueEntry]:
    """Each entry with ``health_score``, ``health_status`` and ``arr_at_risk`` (its ARR
    when the account is red or yellow, else 0)."""
    return entries.annotate(
        health_score=F("account__health_score"),
        health_status=F("account__health__status"),
        arr_at_risk=Case(
            When(_at_risk(), then=F("arr")),
            default=Value(Decimal(0)),
            output_field=DecimalField(**MONEY),
        ),
    )


def renewals_sorted(entries: QuerySet[RenewalQueueEntry], sort: str) -> QuerySet[RenewalQueueEntry]:
    """``at_risk``: the largest ARR at risk first, ties (and every entry not at risk) with
    the tightest renewal first; ``health``: the lowest score first, unscored last; else the
    queue's own order. Expects ``renewals_with_health``'s annotations."""
    if sort == "at_risk":
        return entries.order_by(F("arr_at_risk").desc(), *_TIE_BREAK)
    if sort == "health":
        return entries.order_by(F("health_score").asc(nulls_last=True), *_TIE_BREAK)
    return entries


def arr_at_risk_total() -> Coalesce:
    """An aggregate over queue entries: the ARR of those whose account is red or yellow."""
    return Coalesce(Sum("arr", filter=_at_risk()), Decimal("0"))

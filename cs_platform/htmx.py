"""Small helpers shared by the server-rendered views that htmx updates in place."""

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def is_htmx(request: HttpRequest) -> bool:
    """The request comes from htmx (it wants a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def started_param(request: HttpRequest, name: str = "started") -> datetime | None:
    """``?started=`` (when a background job was started) as an aware datetime; a "+"
    decoded as a space is tolerated."""
    try:
        started = parse_datetime(request.GET.get(name, "").replace(" ", "+"))
    except ValueError:
        return None
    if started is not None and timezone.is_naive(started):
        started = timezone.make_aware(started)
    return started

"""Query parameters parsed strictly: a bad value is a 400 naming the parameter, never a
500 (and never silently ignored)."""

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

# Ids are bigint columns; anything larger cannot exist.
MAX_ID = 2**63 - 1


def query_date(request: Request, name: str) -> dt.date | None:
    """``?name=YYYY-MM-DD`` as a date, None when absent or empty."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: ["Expected a date as YYYY-MM-DD."]}) from None


def query_datetime(request: Request, name: str) -> dt.datetime | None:
    """``?name=`` as an ISO date (its start, in the configured time zone) or an ISO
    datetime (naive means the configured time zone); None when absent or empty."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    error = ValidationError({name: ["Expected an ISO date (YYYY-MM-DD) or date and time."]})
    try:
        parsed = parse_datetime(raw)
        if parsed is None:
            parsed = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time.min)
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        parsed.astimezone(dt.UTC)  # out of range at the calendar's edges
    except (ValueError, OverflowError):
        raise error from None
    return parsed


def query_int(
    request: Request, name: str, *, required: bool = False, minimum: int = 1
) -> int | None:
    """``?name=N`` as a whole number in [minimum, MAX_ID]."""
    raw = request.query_params.get(name)
    if not raw:
        if required:
            raise ValidationError({name: ["This parameter is required."]})
        return None
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= MAX_ID:
        raise ValidationError({name: [f"Expected a whole number from {minimum}."]})
    return int(raw)


def path_int(raw: str | int) -> int | None:
    """A path segment as an id, or None when it cannot be one (the caller answers 404)."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        return None
    return int(text)

"""The usage settings (docs/usage.md), read when needed, never at import time."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from cs_platform import clock

DEFAULT_RETENTION_DAYS = 400
# Rules read at most 180 days (change_90d: 90 days and the 90 before them), so retention
# never goes below that, whatever the setting says.
MIN_RETENTION_DAYS = 181
MAX_ROWS_PER_REQUEST = 100_000


def usage_time_zone() -> ZoneInfo:
    """The zone whose calendar gives an event its day (USAGE_TIME_ZONE, else TIME_ZONE)."""
    return ZoneInfo(getattr(settings, "USAGE_TIME_ZONE", None) or settings.TIME_ZONE)


def usage_today() -> date:
    """Today in the usage time zone (the pinned ``CS_TODAY`` when set, like the clock)."""
    if getattr(settings, "CS_TODAY", None):
        return clock.today()
    return datetime.now(usage_time_zone()).date()


def latest_allowed_day() -> date:
    """Data may be sent up to one day ahead of today (senders in zones ahead of ours)."""
    return usage_today() + timedelta(days=1)


def retention_days() -> int:
    days = int(getattr(settings, "USAGE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    return max(days, MIN_RETENTION_DAYS)

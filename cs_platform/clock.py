"""The one place that says what "today" is, so tests and demos can pin it."""

from datetime import date

from django.conf import settings
from django.utils import timezone


def today() -> date:
    """The configured time zone's date, or ``settings.CS_TODAY`` when pinned."""
    pinned = getattr(settings, "CS_TODAY", None)
    if pinned:
        return pinned if isinstance(pinned, date) else date.fromisoformat(pinned)
    return timezone.localdate()

"""Money, percentages and dates as people read them, in the active locale's number format
(grouping and decimal marks follow the language the request was served in):

- ``{{ contract.arr|money }}`` → "$120,000" (whole units; ``money:2`` keeps the cents),
- ``{{ rate|percent }}`` → "93%" for 0.93 (``percent:1`` → "93.4%"),
- ``{{ day|day }}`` → "5 Jan 2027" (a datetime: its day in the configured time zone),
- ``{{ created_at|moment }}`` → "5 Jan 2027, 14:05".

The currency symbol is the ``CS_CURRENCY_SYMBOL`` setting ("$" by default). A missing
value reads "—"."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.formats import date_format, number_format

from customers.models import AttributeDefinition

register = template.Library()

NOTHING = "—"


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def money(value: Any, places: int = 0) -> str:
    amount = _decimal(value)
    if amount is None:
        return NOTHING
    symbol = getattr(settings, "CS_CURRENCY_SYMBOL", "$")
    places = int(places)
    text = _grouped(abs(amount).quantize(Decimal(1).scaleb(-places)), places, _language())
    return f"{'−' if amount < 0 else ''}{symbol}{text}"


# Pages show the same few amounts and days many times (a book's renewal dates, today,
# round ARRs), and Django's locale-aware formatting costs a fraction of a millisecond a
# call: both are remembered per language (the only input besides the value).
@lru_cache(maxsize=4096)
def _grouped(amount: Decimal, places: int, language: str | None) -> str:
    return number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)


@lru_cache(maxsize=4096)
def _date_text(value: date | datetime, pattern: str, language: str | None) -> str:
    return date_format(value, pattern)


def _language() -> str | None:
    return translation.get_language()


@receiver(setting_changed)
def _forget_formatted(**kwargs: Any) -> None:
    """A test that changes a format setting (grouping, separators, formats) starts afresh."""
    _grouped.cache_clear()
    _date_text.cache_clear()


@register.filter
def percent(value: Any, places: int = 0) -> str:
    rate = _decimal(value)
    if rate is None:
        return NOTHING
    places = int(places)
    shown = (rate * 100).quantize(Decimal(1).scaleb(-places))
    return f"{number_format(shown, decimal_pos=places, use_l10n=True, force_grouping=True)}%"


def humanize_value(value: Any) -> str:
    """A stored value as a person reads it when nothing gives it a label: ``True`` →
    "Yes", ``healthcare`` → "Healthcare", ``at_risk`` → "At risk"; other text as is."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value in (None, ""):
        return NOTHING
    text = str(value)
    if text.replace("_", "").isalnum() and text == text.lower() and not text.isdigit():
        return text.replace("_", " ").capitalize()
    return text


@register.filter(name="humanize_value")
def humanize_value_filter(value: Any) -> str:
    return humanize_value(value)


@register.simple_tag
def account_traits(account: Any) -> list[tuple[str, str]]:
    """(label, value as read) of the account's custom attributes, labels from their
    definitions (one query), money and dates formatted, in the definitions' order; keys
    with no definition come last under their key."""
    traits = dict(account.traits or {})
    rows = []
    for definition in AttributeDefinition.objects.filter(key__in=list(traits)).order_by("label"):
        value = traits.pop(definition.key)
        if value in (None, ""):
            shown = NOTHING
        elif definition.type == "money":
            shown = money(value)
        elif definition.type == "date":
            try:
                shown = day(date.fromisoformat(str(value)))
            except ValueError:
                shown = str(value)
        else:
            shown = humanize_value(value)
        rows.append((definition.label, shown))
    rows += [(key.replace("_", " ").capitalize(), humanize_value(v)) for key, v in traits.items()]
    return rows


@register.filter
def day(value: date | datetime | None) -> str:
    if not value:
        return NOTHING
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return _date_text(value, "j M Y", _language())


@register.filter
def moment(value: datetime | None) -> str:
    """A point in time in the configured time zone: "5 Jan 2027, 14:05"."""
    if not value:
        return NOTHING
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    # Minutes are all the pattern shows: equal texts share one cache entry.
    return _date_text(
        value.replace(second=0, microsecond=0, tzinfo=None), "j M Y, H:i", _language()
    )

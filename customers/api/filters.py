"""Query filters of the customer endpoints (django-filter): bad values are 400s naming the
parameter, never a 500."""

import datetime as dt
from functools import partial
from typing import Any

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

from customers.models import MONEY, Account, Contract, ContractStatus
from customers.selectors import picklist_options

INT_MAX = 2_147_483_647


def _money_filter(field_name: str, lookup_expr: str) -> filters.NumberFilter:
    return filters.NumberFilter(
        field_name=field_name,
        lookup_expr=lookup_expr,
        max_digits=MONEY["max_digits"],
        decimal_places=MONEY["decimal_places"],
    )


class IntegerFilter(filters.NumberFilter):
    """A whole-number filter (bounded by the caller, so no value overflows the column)."""

    field_class = forms.IntegerField


def _int_filter(field_name: str, lookup_expr: str) -> IntegerFilter:
    return IntegerFilter(
        field_name=field_name, lookup_expr=lookup_expr, min_value=0, max_value=INT_MAX
    )


class SafeIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime that must also be representable in UTC (a time with an offset
    at the very edge of the calendar would otherwise overflow in the query)."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is not None:
            try:
                parsed.astimezone(dt.UTC)
            except OverflowError:
                raise forms.ValidationError("Date and time out of range.") from None
        return parsed


class SafeIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = SafeIsoDateTimeField


class AccountFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", max_length=200)
    external_id = filters.CharFilter(max_length=100)
    domain = filters.CharFilter(lookup_expr="iexact", max_length=200)
    country = filters.CharFilter(lookup_expr="iexact", max_length=100)
    # The picklist fields' choices are read from the picklists at each request.
    plan = filters.MultipleChoiceFilter(choices=partial(picklist_options, "plan"))
    region = filters.MultipleChoiceFilter(choices=partial(picklist_options, "region"))
    industry = filters.MultipleChoiceFilter(choices=partial(picklist_options, "industry"))
    lifecycle_stage = filters.MultipleChoiceFilter(
        choices=partial(picklist_options, "lifecycle_stage")
    )
    business_model = filters.MultipleChoiceFilter(
        choices=partial(picklist_options, "business_model")
    )
    csm = filters.CharFilter(
        field_name="owner__username", max_length=150, help_text="Username of the owner CSM."
    )
    unassigned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    has_champion = filters.BooleanFilter()
    referenceable = filters.BooleanFilter()
    arr_min = _money_filter("arr", "gte")
    arr_max = _money_filter("arr", "lte")
    health_score_min = _int_filter("health_score", "gte")
    health_score_max = _int_filter("health_score", "lte")
    renewal_date_after = filters.DateFilter(field_name="renewal_date", lookup_expr="gte")
    renewal_date_before = filters.DateFilter(field_name="renewal_date", lookup_expr="lte")
    updated_since = SafeIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Account
        fields: list[str] = []


class ContractFilter(filters.FilterSet):
    account = IntegerFilter(field_name="account_id", min_value=1, max_value=2**63 - 1)
    account_external_id = filters.CharFilter(field_name="account__external_id", max_length=100)
    status = filters.MultipleChoiceFilter(choices=ContractStatus.choices)
    auto_renew = filters.BooleanFilter()
    end_date_after = filters.DateFilter(field_name="end_date", lookup_expr="gte")
    end_date_before = filters.DateFilter(field_name="end_date", lookup_expr="lte")

    class Meta:
        model = Contract
        fields: list[str] = []

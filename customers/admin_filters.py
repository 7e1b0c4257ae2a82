"""List filters of the customer admin, and the users who can own accounts."""

import datetime as dt

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from cs_platform.clock import today as clock_today
from cs_platform.roles import CSMS, MANAGERS

User = get_user_model()


def staff_users() -> QuerySet:
    """Users who can own accounts: members of the CSMs and Managers groups."""
    return (
        User.objects.filter(is_active=True, groups__name__in=(CSMS, MANAGERS))
        .distinct()
        .order_by("username")
    )


def _month_start(day: dt.date, months_ahead: int) -> dt.date:
    month_index = day.year * 12 + day.month - 1 + months_ahead
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


class RenewalMonthFilter(admin.SimpleListFilter):
    """Renewal date by month over the next 12 months, plus overdue (before today)."""

    title = "renewal month"
    parameter_name = "renewal_month"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        today = clock_today()
        months = [_month_start(today, n) for n in range(12)]
        return [
            ("overdue", "Overdue"),
            *((m.strftime("%Y-%m"), m.strftime("%b %Y")) for m in months),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if value == "overdue":
            return queryset.filter(renewal_date__lt=clock_today())
        try:
            start = dt.datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            return queryset.none()
        return queryset.filter(renewal_date__gte=start, renewal_date__lt=_month_start(start, 1))


class OwnerFilter(admin.SimpleListFilter):
    """The account's current owner CSM (or no owner). Lists the CSMs and managers rather
    than the distinct owners, which would scan the whole table."""

    title = "CSM"
    parameter_name = "csm"
    user_field = "owner"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        users = [(str(u.pk), u.get_full_name() or u.username) for u in staff_users()]
        return [("none", "Unassigned"), *users]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if value == "none":
            return queryset.filter(**{f"{self.user_field}__isnull": True})
        if value.isdigit():
            return queryset.filter(**{f"{self.user_field}_id": int(value)})
        return queryset.none()


class AssignedUserFilter(OwnerFilter):
    title = "user"
    parameter_name = "user"
    user_field = "user"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return super().lookups(request, model_admin)[1:]  # every assignment has a user


class CurrentAssignmentFilter(admin.SimpleListFilter):
    title = "current"
    parameter_name = "current"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "Current"), ("no", "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_at__isnull=False)
        return queryset

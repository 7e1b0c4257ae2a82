"""The rule fields the customers app owns (DESIGN 3.2, 3.4): the account's columns, the
values derived from its contracts (arr, mrr, renewal_date), its owner (csm), the seat
utilization, and the declared custom attributes (``traits.KEY``).

Registered once at start-up by ``CustomersConfig.ready()``; the rule engine reads them
from its registry and never imports this app. See docs/rule-fields.md.
"""

from django.db.models import TextChoices

from rules import (
    AttributeFamily,
    Column,
    Ratio,
    RuleField,
    register_family,
    register_field,
    register_subject,
)
from rules.vocabulary import BOOLEAN, CHOICE, DATE, INTEGER, MONEY, NUMBER, TEXT

from .models import (
    MONTHS_PER_YEAR,
    Account,
    BusinessModel,
    Industry,
    LifecycleStage,
    Plan,
    Region,
)

APP = "customers"


def _column(name: str, kind: str, label: str, choices: tuple[str, ...] = ()) -> RuleField:
    return RuleField(name, kind, Column(name), label=label, choices=choices, app=APP)


def _values(enum: type[TextChoices]) -> tuple[str, ...]:
    return tuple(enum.values)


# In the order of the design's table, which is the order the rule editor lists them.
ACCOUNT_FIELDS: tuple[RuleField, ...] = (
    _column("name", TEXT, "Name"),
    _column("domain", TEXT, "Domain"),
    _column("country", TEXT, "Country"),
    # Choices are read from the model enums, so adding a plan (or region...) there extends
    # the rule language.
    _column("industry", CHOICE, "Industry", choices=_values(Industry)),
    _column("region", CHOICE, "Region", choices=_values(Region)),
    _column("business_model", CHOICE, "Business model", choices=_values(BusinessModel)),
    _column("plan", CHOICE, "Plan", choices=_values(Plan)),
    _column("lifecycle_stage", CHOICE, "Lifecycle stage", choices=_values(LifecycleStage)),
    _column("employees", INTEGER, "Employees"),
    _column("health_score", INTEGER, "Health score"),
    _column("active_users", INTEGER, "Active users"),
    _column("licensed_seats", INTEGER, "Licensed seats"),
    _column("open_tickets", INTEGER, "Open tickets"),
    _column("cost_to_serve", MONEY, "Cost to serve"),
    _column("acquisition_cost", MONEY, "Acquisition cost"),
    # arr and renewal_date are derived columns, maintained from the contracts.
    _column("arr", MONEY, "ARR"),
    RuleField(
        "mrr", MONEY, Column("arr", divide_by=MONTHS_PER_YEAR), label="MRR (ARR / 12)", app=APP
    ),
    _column("renewal_date", DATE, "Renewal date"),
    _column("customer_since", DATE, "Customer since"),
    _column("churned_on", DATE, "Churned on"),
    _column("last_seen_at", DATE, "Last seen"),
    _column("has_champion", BOOLEAN, "Has a champion"),
    _column("referenceable", BOOLEAN, "Referenceable"),
    RuleField("csm", TEXT, Column("owner__username"), label="CSM (username)", app=APP),
    RuleField(
        "seat_utilization",
        NUMBER,
        Ratio("active_users", "licensed_seats"),
        label="Seat utilization (active users / seats)",
        app=APP,
    ),
)

TRAITS = AttributeFamily(column="traits", app=APP)


def register_rule_fields() -> None:
    """Register the account subject, its fields and the ``traits.`` family."""
    register_subject("account", Account.objects.all)
    register_field(*ACCOUNT_FIELDS)
    register_family(TRAITS)

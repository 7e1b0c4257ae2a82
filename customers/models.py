from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

MONEY = {"max_digits": 14, "decimal_places": 2}
# MRR is ARR spread over the months of a year: the one definition, read by Account.mrr and
# by the rule field ``mrr`` (customers/rule_fields.py), which compiles ``mrr op v`` to
# ``arr op v × MONTHS_PER_YEAR`` and evaluates it unrounded.
MONTHS_PER_YEAR = 12
PICKLIST_VALUE_MAX_LENGTH = 100


# The built-in vocabularies below are the picklists' INITIAL values (migration 0007 seeds
# them; demo data and tests name them). What an account may hold is the picklist's
# content, managed in the admin and the API (customers/picklists.py).


class Region(models.TextChoices):
    NA = "NA", "North America"
    EMEA = "EMEA", "EMEA"
    APAC = "APAC", "APAC"
    LATAM = "LATAM", "LATAM"


class BusinessModel(models.TextChoices):
    B2B = "B2B", "B2B"
    B2C = "B2C", "B2C"
    DTC = "DTC", "DTC"


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class LifecycleStage(models.TextChoices):
    TRIAL = "trial", "Trial"
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTING = "adopting", "Adopting"
    MATURE = "mature", "Mature"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class Industry(models.TextChoices):
    SOFTWARE = "software", "Software"
    FINANCE = "finance", "Financial services"
    HEALTHCARE = "healthcare", "Healthcare"
    RETAIL = "retail", "Retail & e-commerce"
    MANUFACTURING = "manufacturing", "Manufacturing"
    EDUCATION = "education", "Education"
    MEDIA = "media", "Media"
    LOGISTICS = "logistics", "Logistics"
    PUBLIC_SECTOR = "public_sector", "Public sector"
    PROFESSIONAL_SERVICES = "professional_services", "Professional services"


class Account(models.Model):
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=100, unique=True)
    domain = models.CharField(max_length=200, blank=True, null=True)
    # The five picklist fields store a PicklistValue's value text (DESIGN 10); what is
    # allowed is read from the picklist by customers/field_values.py, not from code.
    industry = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH, blank=True, null=True)
    region = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH, blank=True, null=True)
    country = models.CharField(max_length=100, blank=True, null=True)
    employees = models.PositiveIntegerField(blank=True, null=True)
    business_model = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH, blank=True, null=True)
    plan = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH, blank=True, null=True)
    lifecycle_stage = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH, blank=True, null=True)
    customer_since = models.DateField(blank=True, null=True)
    churned_on = models.DateField(blank=True, null=True)
    has_champion = models.BooleanField(default=False)
    referenceable = models.BooleanField(default=False)
    health_score = models.PositiveSmallIntegerField(
        blank=True, null=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    last_seen_at = models.DateField(blank=True, null=True)
    active_users = models.PositiveIntegerField(default=0)
    licensed_seats = models.PositiveIntegerField(blank=True, null=True)
    open_tickets = models.PositiveIntegerField(default=0)
    cost_to_serve = models.DecimalField(
        **MONEY, blank=True, null=True, validators=[MinValueValidator(Decimal("0"))]
    )
    acquisition_cost = models.DecimalField(
        **MONEY, blank=True, null=True, validators=[MinValueValidator(Decimal("0"))]
    )
    traits = models.JSONField(default=dict, blank=True)

    # Derived columns, maintained in the same transaction by the contract and assignment
    # services so rules can filter a million accounts on them cheaply; the
    # `customers_rederive` command re-derives them and reports drift.
    arr = models.DecimalField(**MONEY, default=Decimal("0"), editable=False)
    renewal_date = models.DateField(blank=True, null=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="owned_accounts",
        db_index=False,  # account_owner_book_id (Meta) leads with it
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The accounts list's sorts (workspace.forms.ACCOUNT_SORTS) end with the id to
            # break ties: with it in the index a page is an index scan in that order (from
            # either end), not an incremental sort of everything before the page's offset
            # (page 150 of 100k accounts: 12-19 ms with the column alone, bench/web.py).
            # Filters on the column use the same index.
            models.Index(fields=["plan", "id"], name="account_plan_id"),
            models.Index(fields=["region", "id"], name="account_region_id"),
            models.Index(fields=["industry"]),
            models.Index(fields=["lifecycle_stage", "id"], name="account_lifecycle_id"),
            models.Index(fields=["arr", "id"], name="account_arr_id"),
            models.Index(fields=["renewal_date", "id"], name="account_renewal_id"),
            models.Index(fields=["health_score", "id"], name="account_health_id"),
            models.Index(fields=["customer_since"]),
            models.Index(fields=["last_seen_at"]),
            # A CSM's book: its size, ARR, renewals and risk (the home page's figures) from
            # the index alone, an index-only scan of the CSM's accounts; and the accounts
            # list by CSM, one owner's accounts by id.
            models.Index(
                fields=["owner", "id"],
                include=["arr", "renewal_date", "lifecycle_stage", "health_score"],
                name="account_owner_book_id",
            ),
            models.Index(fields=["name", "id"], name="account_name_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost_to_serve__isnull=True) | Q(cost_to_serve__gte=0),
                name="account_cost_to_serve_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(acquisition_cost__isnull=True) | Q(acquisition_cost__gte=0),
                name="account_acquisition_cost_non_negative",
            ),
            models.CheckConstraint(condition=Q(arr__gte=0), name="account_arr_non_negative"),
            models.CheckConstraint(
                condition=Q(health_score__isnull=True) | Q(health_score__lte=100),
                name="account_health_score_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def mrr(self) -> Decimal:
        """ARR / MONTHS_PER_YEAR to the cent, for display (rules compare it unrounded)."""
        return (self.arr / MONTHS_PER_YEAR).quantize(Decimal("0.01"))

    @property
    def seat_utilization(self) -> Decimal | None:
        if not self.licensed_seats:
            return None
        return Decimal(self.active_users) / Decimal(self.licensed_seats)


class PendingEvaluation(models.Model):
    """An account whose segment rule inputs changed since the segment engine last evaluated
    it: written by every account write that could change segment membership, in the same
    transaction; the changed-accounts sweep takes these rows in bounded batches and deletes
    them when it has re-evaluated the accounts.

    A side table rather than a flag on the account row, so marking and sweeping write this
    narrow table and never rewrite the account row and its many index entries.

    No foreign-key constraint in the database: marks are only ever written from the
    accounts table (an INSERT ... SELECT over accounts), deleting an account deletes its
    mark (Django's cascade), and the sweep takes and deletes whatever is marked, so a mark
    whose account is gone costs one empty re-evaluation. The constraint's per-row check
    cost a quarter of a million-account picklist merge at commit.
    """

    account = models.OneToOneField(
        Account,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="pending_evaluation",
        db_constraint=False,
    )
    # The latest mark (a mark of an account already pending moves it forward).
    marked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"account {self.account_id} pending since {self.marked_at}"


class ContractStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RENEWED = "renewed", "Renewed"
    CHURNED = "churned", "Churned"
    CANCELLED = "cancelled", "Cancelled"


class Contract(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contracts")
    start_date = models.DateField()
    end_date = models.DateField()
    arr = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    status = models.CharField(
        max_length=20, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    auto_renew = models.BooleanField(default=False)
    seats = models.PositiveIntegerField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["end_date", "id"]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["status", "end_date"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="contract_end_after_start"
            ),
            models.CheckConstraint(condition=Q(arr__gte=0), name="contract_arr_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.start_date}–{self.end_date}"

    def clean(self) -> None:
        # Names the field; the database constraint alone reports only its own name.
        if self.start_date and self.end_date and self.end_date < self.start_date:
            message = f"The end date must be on or after the start date ({self.start_date})."
            raise ValidationError({"end_date": [message]})


class AssignmentRole(models.TextChoices):
    OWNER = "owner", "Owner"
    SECONDARY = "secondary", "Secondary CSM"
    EXEC_SPONSOR = "exec_sponsor", "Executive sponsor"


class CSMAssignment(models.Model):
    """Who works an account in which role, from when until when. Rows are closed, never
    deleted, so the history of ownership is kept."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    role = models.CharField(max_length=20, choices=AssignmentRole.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(blank=True, null=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "role", "ended_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(role="owner", ended_at__isnull=True),
                name="assignment_one_current_owner",
                violation_error_message="This account already has a current owner.",
            ),
            models.UniqueConstraint(
                fields=["account", "user", "role"],
                condition=Q(ended_at__isnull=True),
                name="assignment_unique_current_role",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="assignment_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.account}"

    @property
    def is_current(self) -> bool:
        return self.ended_at is None


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    CHOICE = "choice", "Choice"
    INTEGER = "integer", "Integer"
    NUMBER = "number", "Number"
    MONEY = "money", "Money"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Boolean"


class AttributeDefinition(models.Model):
    """Declares a custom attribute kept in ``Account.traits[key]``."""

    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=AttributeType.choices)
    choices = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label


class NoteKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    EMAIL = "email", "Email"
    QBR = "qbr", "Business review"


class Note(models.Model):
    """A note or a touchpoint (call, meeting, email, QBR) on an account's timeline."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    kind = models.CharField(max_length=20, choices=NoteKind.choices, default=NoteKind.NOTE)
    body = models.TextField()
    happened_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-happened_at", "-id"]
        indexes = [models.Index(fields=["account", "-happened_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.account}"


# --- picklists (DESIGN 10) ---------------------------------------------------------------------


class PicklistField(models.TextChoices):
    """The account fields whose values come from a managed picklist."""

    INDUSTRY = "industry", "Industry"
    REGION = "region", "Region"
    BUSINESS_MODEL = "business_model", "Business model"
    PLAN = "plan", "Plan"
    LIFECYCLE_STAGE = "lifecycle_stage", "Lifecycle stage"


class Picklist(models.Model):
    """The allowed values of one account field; ``accept_new_values`` lets a write with an
    unknown value add it (marked for review) instead of refusing it."""

    field = models.CharField(max_length=40, choices=PicklistField.choices, unique=True)
    accept_new_values = models.BooleanField(default=False)

    class Meta:
        ordering = ["field"]

    def __str__(self) -> str:
        return self.get_field_display()


class PicklistValue(models.Model):
    """One value of a picklist: ``value`` is what accounts store and rules compare, kept
    in the casing first written; unique per picklist case-insensitively."""

    picklist = models.ForeignKey(Picklist, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=PICKLIST_VALUE_MAX_LENGTH)
    label = models.CharField(max_length=200, blank=True)
    order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    # Added by a write with an unknown value (accept_new_values): shown to the admin as
    # "new values to review" until someone clears it.
    needs_review = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["picklist", "order", "value"]
        constraints = [
            models.UniqueConstraint(
                "picklist",
                Lower("value"),
                name="picklist_value_unique_ci",
                violation_error_message="This picklist already has this value (in any casing).",
            ),
        ]

    def __str__(self) -> str:
        return self.value

    @property
    def display_label(self) -> str:
        return self.label or self.value


# --- products (DESIGN 10) ------------------------------------------------------------------------


class Product(models.Model):
    """A product of the catalogue that contract line items sell."""

    code = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    family = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["code"]
        indexes = [models.Index(fields=["family"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ContractItem(models.Model):
    """A line item of a contract: a product, how many, and its share of the contract's ARR."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="contract_items")
    quantity = models.PositiveIntegerField(default=1)
    arr = models.DecimalField(
        **MONEY, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        ordering = ["contract", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "product"], name="contract_item_one_line_per_product"
            ),
            models.CheckConstraint(condition=Q(arr__gte=0), name="contract_item_arr_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} on contract {self.contract_id}"


# The CRM import's models live in their own module; importing them here registers them.
from .import_models import ImportJob, ImportPhase, ImportProfile, ImportStatus  # noqa: E402,F401

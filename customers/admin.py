"""Admin for the customer domain. Every save goes through customers.services, so the derived
columns (arr, renewal_date, owner), the segment re-evaluation mark and the
``accounts_changed`` signal stay right whatever screen a change comes from."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from cs_platform.json_forms import BoundedJSONAdminMixin, periodic_task_admin_bound
from cs_platform.read_only_admin import ReadOnlyMixin

from . import services
from .admin_actions import assign_owner_action
from .admin_crm import ContractItemInline, contract_items_save
from .admin_filters import (
    AssignedUserFilter,
    CurrentAssignmentFilter,
    OwnerFilter,
    RenewalMonthFilter,
    staff_users,
)
from .admin_import import csv_import_view
from .admin_import_jobs import ImportJobAdmin, ImportProfileAdmin  # noqa: F401 (registers them)
from .field_values import PICKLIST_FIELDS, PicklistValues
from .models import (
    Account,
    AssignmentRole,
    AttributeDefinition,
    AttributeType,
    Contract,
    CSMAssignment,
    Note,
)
from .selectors import account_ids_pending_evaluation, picklist_options

User = get_user_model()


class ContractInline(admin.TabularInline):
    model = Contract
    fields = services.CONTRACT_EDITABLE_FIELDS
    extra = 0
    # Contracts are ended by status (renewed, churned, cancelled), never deleted, so the
    # history that metrics rely on is kept.
    can_delete = False
    ordering = ("-end_date", "-id")


class AssignmentHistoryInline(admin.TabularInline):
    """Ownership history: rows are closed by csm_assign, never edited here."""

    model = CSMAssignment
    fields = ("user", "role", "started_at", "ended_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-started_at", "-id")
    verbose_name_plural = "assignment history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")


class AccountAdminForm(forms.ModelForm):
    assign_owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Assign owner",
        help_text="Make this user the owner CSM; the previous owner's assignment is closed.",
    )

    class Meta:
        model = Account
        fields = services.ACCOUNT_EDITABLE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assign_owner"].queryset = staff_users()
        # The picklist fields offer their picklist's values (and the current one).
        for name in PICKLIST_FIELDS:
            current = getattr(self.instance, name, None)
            options = picklist_options(name, active_only=True)
            if current and current not in {value for value, _label in options}:
                options.append((current, current))
            self.fields[name].widget = forms.Select(choices=[("", "---------"), *options])

    def clean(self) -> dict:
        cleaned = super().clean()
        picklists = PicklistValues()
        for name in PICKLIST_FIELDS:
            if name in cleaned:
                try:
                    cleaned[name] = picklists.clean(name, cleaned[name])
                except ValidationError as error:
                    self.add_error(name, error)
        return cleaned

    def clean_traits(self) -> dict:
        traits = self.cleaned_data.get("traits")
        try:
            services.traits_validate(traits)
        except ValidationError as error:
            raise ValidationError(error.message_dict.get("traits", error.messages)) from None
        return traits


@admin.register(Account)
class AccountAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
    form = AccountAdminForm
    list_display = (
        "name",
        "plan",
        "region",
        "industry",
        "lifecycle_stage",
        "arr",
        "renewal_date",
        "owner",
    )
    list_filter = (
        "plan",
        "region",
        "industry",
        "lifecycle_stage",
        OwnerFilter,
        RenewalMonthFilter,
    )
    list_select_related = ("owner",)
    search_fields = ("name", "domain", "=external_id")
    # Counting a million unfiltered rows on every page view is the slow part of a list.
    show_full_result_count = False
    readonly_fields = (
        "health_score",
        "arr",
        "renewal_date",
        "owner",
        "needs_segment_eval",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "external_id", "domain", "plan", "lifecycle_stage")}),
        (
            "Firmographics",
            {"fields": ("industry", "region", "country", "employees", "business_model")},
        ),
        (
            "Relationship",
            {
                "fields": (
                    "customer_since",
                    "churned_on",
                    "has_champion",
                    "referenceable",
                    "health_score",
                    "owner",
                    "assign_owner",
                )
            },
        ),
        (
            "Usage and cost",
            {
                "fields": (
                    "last_seen_at",
                    "active_users",
                    "licensed_seats",
                    "open_tickets",
                    "cost_to_serve",
                    "acquisition_cost",
                )
            },
        ),
        ("Custom attributes", {"fields": ("traits",)}),
        (
            "Derived (from contracts and assignments)",
            {
                "fields": (
                    "arr",
                    "renewal_date",
                    "needs_segment_eval",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    inlines = (ContractInline, AssignmentHistoryInline)
    actions = (assign_owner_action,)

    @admin.display(boolean=True, description="Needs segment evaluation")
    def needs_segment_eval(self, obj: Account) -> bool:
        return (
            obj.pk is not None
            and account_ids_pending_evaluation().filter(account_id=obj.pk).exists()
        )

    def save_model(
        self, request: HttpRequest, obj: Account, form: forms.ModelForm, change: bool
    ) -> None:
        editable = [name for name in services.ACCOUNT_EDITABLE_FIELDS if name in form.cleaned_data]
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
            services.account_update(account=obj, data=data)
        else:
            created = services.account_create(
                **{name: form.cleaned_data[name] for name in editable}
            )
            obj.pk = created.pk
            obj.created_at, obj.updated_at = created.created_at, created.updated_at
            obj._state.adding = False
            obj._state.db = created._state.db
        new_owner = form.cleaned_data.get("assign_owner")
        if new_owner is not None and new_owner.pk != obj.owner_id:
            services.csm_assign(account=obj, user=new_owner, role=AssignmentRole.OWNER)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        # The account's delete permission covers what goes with it: contracts and the
        # assignment history cannot be deleted on their own, but they do not outlive their
        # account (Django would otherwise refuse the delete for lack of those permissions).
        deleted, model_count, _, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def delete_model(self, request: HttpRequest, obj: Account) -> None:
        services.account_delete(account=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.accounts_delete(account_ids=queryset.values_list("pk", flat=True))

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool
    ) -> None:
        if formset.model is not Contract:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for contract in formset.new_objects:
            services.contract_create(
                account=form.instance,
                **{name: getattr(contract, name) for name in services.CONTRACT_EDITABLE_FIELDS},
            )
        for contract, changed in formset.changed_objects:
            services.contract_update(
                contract=contract,
                data={
                    name: getattr(contract, name)
                    for name in changed
                    if name in services.CONTRACT_EDITABLE_FIELDS
                },
            )

    def get_urls(self) -> list[URLPattern]:
        # Ahead of the model's own URLs, whose "<path:object_id>/" would claim "import/".
        opts = self.opts
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name=f"{opts.app_label}_{opts.model_name}_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        return csv_import_view(request, admin_site=self.admin_site)


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ("account", "start_date", "end_date", "arr", "status", "auto_renew", "seats")
    list_filter = ("status", "auto_renew")
    list_select_related = ("account",)
    search_fields = ("account__name", "=account__external_id")
    autocomplete_fields = ("account",)
    fields = ("account", *services.CONTRACT_EDITABLE_FIELDS)
    show_full_result_count = False
    inlines = (ContractItemInline,)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        contract_items_save(form.instance, formset)

    def get_readonly_fields(self, request: HttpRequest, obj: Contract | None = None) -> tuple:
        # Moving a contract to another account would need both accounts re-derived.
        return ("account",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Contract | None = None) -> bool:
        # Contracts end by status (renewed, churned, cancelled); see ContractInline.
        return False

    def save_model(
        self, request: HttpRequest, obj: Contract, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            data = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.CONTRACT_EDITABLE_FIELDS
            }
            services.contract_update(contract=obj, data=data)
        else:
            created = services.contract_create(
                account=form.cleaned_data["account"],
                **{name: form.cleaned_data[name] for name in services.CONTRACT_EDITABLE_FIELDS},
            )
            obj.pk = created.pk
            obj.created_at, obj.updated_at = created.created_at, created.updated_at
            obj._state.adding = False
            obj._state.db = created._state.db


@admin.register(CSMAssignment)
class CSMAssignmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only history; assign owners from the account (form field or list action), which
    calls ``csm_assign`` and closes the previous assignment."""

    list_display = ("account", "user", "role", "started_at", "ended_at", "is_current")
    list_filter = ("role", CurrentAssignmentFilter, AssignedUserFilter)
    list_select_related = ("account", "user")
    search_fields = ("account__name", "=account__external_id", "user__username")
    show_full_result_count = False

    @admin.display(boolean=True)
    def is_current(self, obj: CSMAssignment) -> bool:
        return obj.is_current


class AttributeDefinitionForm(forms.ModelForm):
    class Meta:
        model = AttributeDefinition
        fields = ("key", "label", "type", "choices", "description")

    def clean(self) -> dict:
        cleaned = super().clean()
        choices = cleaned.get("choices")
        if cleaned.get("type") == AttributeType.CHOICE and not (
            isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)
        ):
            self.add_error("choices", "A choice attribute needs a list of text choices.")
        return cleaned


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
    form = AttributeDefinitionForm
    list_display = ("key", "label", "type")
    list_filter = ("type",)
    search_fields = ("key", "label")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        # Stored trait values and segment rules depend on the key and the type.
        return ("key", "type") if obj is not None else ()

    def save_model(
        self, request: HttpRequest, obj: AttributeDefinition, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            if form.changed_data:
                obj.save(update_fields=form.changed_data)
            return
        created = services.attribute_definition_create(
            **{name: form.cleaned_data[name] for name in form.Meta.fields}
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("account", "kind", "author", "happened_at")
    list_filter = ("kind",)
    list_select_related = ("account", "author")
    search_fields = ("account__name", "body")
    autocomplete_fields = ("account",)
    fields = ("account", "kind", "body", "happened_at", "author")
    readonly_fields = ("author",)
    show_full_result_count = False

    def save_model(
        self, request: HttpRequest, obj: Note, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            if form.changed_data:
                obj.save(update_fields=form.changed_data)
            return
        created = services.note_create(
            account=form.cleaned_data["account"],
            author=request.user,
            body=form.cleaned_data["body"],
            kind=form.cleaned_data["kind"],
            happened_at=form.cleaned_data["happened_at"],
        )
        obj.pk = created.pk
        obj.author = created.author
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db


# The periodic tasks' page (django-celery-beat, registered before this app's admin):
# its JSON arguments get the nesting bound of every JSON input.
periodic_task_admin_bound(admin.site)

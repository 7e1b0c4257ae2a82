"""Admin of the CRM vocabularies (DESIGN 10): the picklists with their values inline (order,
active, "new values to review" with a count), and the product catalogue. Writes go through
customers.picklists and customers.products, so renames and deletes are checked against the
published rules and the accounts that hold the values."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from . import picklists, products
from .models import Account, Contract, ContractItem, Picklist, PicklistValue, Product


class PicklistValueFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        field = self.instance.field
        for form in self.forms:
            item = form.instance
            if item.pk is None or not hasattr(form, "cleaned_data"):
                continue
            old = PicklistValue.objects.get(pk=item.pk).value
            removing = form.cleaned_data.get("DELETE") or form.cleaned_data.get("value") != old
            if not removing:
                continue
            users = picklists.picklist_value_users(field, old)
            if users:
                raise ValidationError(
                    f"{old!r} is used by the published rules of these segments: {', '.join(users)}."
                )
            if form.cleaned_data.get("DELETE") and Account.objects.filter(**{field: old}).exists():
                raise ValidationError(
                    f"Accounts hold {old!r}: merge it into another value (the action "
                    f'"Merge into another value" on the list of values) instead of deleting it.'
                )


class PicklistValueInline(admin.TabularInline):
    model = PicklistValue
    formset = PicklistValueFormSet
    fields = ("value", "label", "order", "is_active", "needs_review")
    ordering = ("order", "value")
    extra = 1


@admin.register(Picklist)
class PicklistAdmin(admin.ModelAdmin):
    list_display = ("field", "accept_new_values", "value_count", "to_review")
    fields = ("field", "accept_new_values")
    inlines = (PicklistValueInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Picklist | None = None) -> tuple:
        return ("field",) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one picklist per field, created by the migrations

    def has_delete_permission(self, request: HttpRequest, obj: Picklist | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                value_total=Count("values"),
                review_total=Count("values", filter=Q(values__needs_review=True)),
            )
        )

    @admin.display(description="Values", ordering="value_total")
    def value_count(self, obj: Picklist) -> int:
        return obj.value_total

    @admin.display(description="New values to review", ordering="review_total")
    def to_review(self, obj: Picklist) -> str:
        if not obj.review_total:
            return "0"
        url = reverse("admin:customers_picklistvalue_changelist")
        query = f"?picklist__id__exact={obj.pk}&needs_review__exact=1"
        return format_html('<a href="{}">{}</a>', url + query, obj.review_total)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.save(commit=False)
        for item in formset.deleted_objects:
            picklists.picklist_value_delete(item=item)
        for item in formset.new_objects:
            picklists.picklist_value_add(
                picklist=form.instance,
                **{name: getattr(item, name) for name in picklists.PICKLIST_VALUE_EDITABLE_FIELDS},
            )
        for item, changed in formset.changed_objects:
            data = {n: getattr(item, n) for n in changed if n in PicklistValueInline.fields}
            picklists.picklist_value_update(item=item, data=data)


@admin.action(description="Mark as reviewed")
def mark_reviewed(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    count = 0
    for item in queryset.filter(needs_review=True):
        picklists.picklist_value_update(item=item, data={"needs_review": False})
        count += 1
    messages.success(request, f"{count} values marked as reviewed.")


class MergeIntoForm(forms.Form):
    into = forms.ModelChoiceField(
        queryset=PicklistValue.objects.none(),
        label="Merge into",
        help_text="Accounts holding the selected values get this value instead.",
    )

    def __init__(self, *args: Any, picklist: Picklist, exclude: list[int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = picklist.values.exclude(pk__in=exclude).order_by(
            "order", "value"
        )


@admin.action(description="Merge into another value", permissions=["change"])
def merge_values_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Merge the selected values (of one picklist) into a value chosen on the next page:
    their accounts are rewritten set-based and re-evaluated. All or nothing: a value a
    published rule uses refuses the whole merge, naming the segments."""
    selected = list(queryset.select_related("picklist").order_by("value"))
    picklist_ids = {item.picklist_id for item in selected}
    if len(picklist_ids) != 1:
        model_admin.message_user(request, "Choose values of one picklist to merge.", messages.ERROR)
        return None
    picklist = selected[0].picklist
    form = MergeIntoForm(
        request.POST if "apply" in request.POST else None,
        picklist=picklist,
        exclude=[item.pk for item in selected],
    )
    if form.is_bound and form.is_valid():
        into = form.cleaned_data["into"]
        try:
            with transaction.atomic():
                rewritten = sum(
                    picklists.picklist_values_merge(
                        picklist=picklist, from_value=item.value, into_value=into.value
                    )
                    for item in selected
                )
        except ValidationError as exc:
            for text in exc.messages:
                model_admin.message_user(request, f"Nothing was merged: {text}", messages.ERROR)
            return None
        names = ", ".join(repr(item.value) for item in selected)
        model_admin.message_user(
            request,
            f"Merged {names} into {into.value!r}: {rewritten} account(s) rewritten.",
            messages.SUCCESS,
        )
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Merge {picklist.field} values",
        "form": form,
        "values": selected,
        "picklist": picklist,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "opts": model_admin.model._meta,
        "action": "merge_values_action",
    }
    return TemplateResponse(request, "admin/customers/merge_values.html", context)


@admin.register(PicklistValue)
class PicklistValueAdmin(admin.ModelAdmin):
    """Every picklist value; filter "needs review" for the values writes added."""

    list_display = ("value", "picklist", "label", "order", "is_active", "needs_review")
    list_filter = ("picklist", "needs_review", "is_active")
    search_fields = ("value", "label")
    actions = (mark_reviewed, merge_values_action)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # added from the picklist's page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleted from the picklist's page, which checks the rules using it


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "family")
    list_filter = ("family",)
    search_fields = ("code", "name", "family")

    # Rules name products by code: a code that changed or vanished would make a published
    # rule naming it invalid, so codes are fixed and products are not deleted here.
    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> tuple:
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        if change:
            obj.full_clean()
            obj.save(update_fields=list(form.changed_data) or None)
        else:
            created = products.product_create(
                **{name: form.cleaned_data[name] for name in products.PRODUCT_EDITABLE_FIELDS}
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj._state.db = created._state.db


class ContractItemFormSet(forms.BaseInlineFormSet):
    def kept_items(self) -> list[dict[str, Any]]:
        items = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("product") is None:
                continue
            items.append(
                {"product": data["product"], "quantity": data["quantity"], "arr": data["arr"]}
            )
        return items

    def clean(self) -> None:
        super().clean()
        total = sum((item["arr"] for item in self.kept_items()), start=0)
        if self.instance.arr is not None and total > self.instance.arr:
            raise ValidationError(
                f"The items' ARR ({total}) is more than the contract's ARR ({self.instance.arr})."
            )


class ContractItemInline(admin.TabularInline):
    model = ContractItem
    formset = ContractItemFormSet
    fields = ("product", "quantity", "arr")
    autocomplete_fields = ("product",)
    extra = 0


def contract_items_save(contract: Contract, formset: ContractItemFormSet) -> None:
    """Save a contract's item inline through ``contract_items_set`` (the whole list)."""
    formset.save(commit=False)  # sets new_objects etc., which the change message reads
    products.contract_items_set(contract=contract, items=formset.kept_items())

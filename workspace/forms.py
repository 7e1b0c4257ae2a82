"""Forms of the workspace pages. They validate and normalise input; queries and writes
live in the selectors and services."""

import hashlib
from collections.abc import Sequence

from django import forms

from customers.models import NoteKind
from customers.selectors import picklist_options

UNASSIGNED = "__none__"
# The health filter: a status, or accounts no scorecard scores.
NOT_SCORED = "none"
HEALTH_CHOICES = [
    ("", "Any health"),
    ("red", "Red"),
    ("yellow", "Yellow"),
    ("green", "Green"),
    (NOT_SCORED, "Not scored"),
]

# Sort keys a user may pass in ?sort= → ORM ordering (whitelisted: never a raw field name).
ACCOUNT_SORTS: dict[str, tuple[str, str]] = {
    "name": ("Name", "name"),
    "arr": ("ARR", "arr"),
    "health": ("Health", "health_score"),
    "renewal": ("Renewal date", "renewal_date"),
    "plan": ("Plan", "plan"),
    "region": ("Region", "region"),
    "lifecycle": ("Lifecycle", "lifecycle_stage"),
    "csm": ("CSM", "owner__username"),
}
# Sorting by the chosen usage metric's 30-day sum (workspace.usage), not a column of Account.
USAGE_SORT = "usage"

RENEWAL_WINDOW_CHOICES = [
    ("", "Any renewal date"),
    ("overdue", "Overdue (renewal date passed)"),
    ("30", "Within 30 days"),
    ("60", "Within 60 days"),
    ("90", "Within 90 days (T-90)"),
    ("120", "Within 120 days (T-120)"),
    ("none", "No active contract"),
]


def _sort_choices() -> list[tuple[str, str]]:
    choices = []
    for key, (label, _) in ACCOUNT_SORTS.items():
        choices.append((key, f"{label} ↑"))
        choices.append((f"-{key}", f"{label} ↓"))
    choices.append((USAGE_SORT, "Usage, 30 days ↑"))
    choices.append((f"-{USAGE_SORT}", "Usage, 30 days ↓"))
    return choices


class AccountFilterForm(forms.Form):
    """The accounts list's search, filters and sort (all optional, all from ?query)."""

    # Rendered by partials/_filter_field.html; account_list.html gives its placeholder.
    q = forms.CharField(label="Search", required=False, max_length=200)
    segment = forms.TypedChoiceField(label="Segment", required=False, coerce=int, empty_value=None)
    csm = forms.ChoiceField(label="CSM", required=False)
    # The picklist fields offer their picklists' values (read at each request).
    plan = forms.ChoiceField(
        label="Plan", required=False, choices=lambda: [("", "Any plan"), *picklist_options("plan")]
    )
    region = forms.ChoiceField(
        label="Region",
        required=False,
        choices=lambda: [("", "Any region"), *picklist_options("region")],
    )
    lifecycle = forms.ChoiceField(
        label="Lifecycle",
        required=False,
        choices=lambda: [("", "Any stage"), *picklist_options("lifecycle_stage")],
    )
    renewal = forms.ChoiceField(label="Renewal", required=False, choices=RENEWAL_WINDOW_CHOICES)
    health = forms.ChoiceField(label="Health", required=False, choices=HEALTH_CHOICES)
    sort = forms.ChoiceField(label="Sort", required=False, choices=_sort_choices())
    usage = forms.ChoiceField(label="Usage metric", required=False)

    def __init__(
        self,
        *args,
        segment_choices: list[tuple[int, str]],
        csm_choices: list[str],
        usage_choices: Sequence[tuple[str, str]] = (),
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["usage"].choices = [("", "No usage column"), *usage_choices]
        self.fields["segment"].choices = [("", "Any segment"), *segment_choices]
        self.fields["csm"].choices = [
            ("", "Any CSM"),
            (UNASSIGNED, "Unassigned"),
            *((username, username) for username in csm_choices),
        ]
        # The picklists once per form (a callable's choices are read again at every use).
        for name in ("plan", "region", "lifecycle"):
            self.fields[name].choices = list(self.fields[name].choices)

    def fragment_key(self) -> str:
        """What the rendered fields depend on: their values and every choice offered. The
        page caches its filter bar under it, so a new segment, CSM or picklist value
        shows at once (a new key), and no choice list is rendered twice."""
        # The fields' values and the column chooser's, not the page number.
        shown = [*self.fields, "cols"]
        content = [
            repr([(name, self.data.getlist(name)) for name in shown] if self.is_bound else "")
        ]
        content += [
            repr(list(field.choices)) for field in self.fields.values() if hasattr(field, "choices")
        ]
        return hashlib.sha256("\n".join(content).encode()).hexdigest()

    def filters(self) -> dict:
        """The valid filters only: a bad value in one field (reported by the form) does
        not throw away the others."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None)}


class NoteForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=NoteKind.choices, initial=NoteKind.NOTE)
    body = forms.CharField(
        label="Note",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened, what's next…"}),
    )
    happened_at = forms.DateTimeField(
        label="When",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write something.")
        return body

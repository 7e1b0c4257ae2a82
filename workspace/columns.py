"""The columns the accounts list can show (the column chooser): each a key, its label, the
sort it offers (a key of ``forms.ACCOUNT_SORTS``, or none) and the Account fields it reads.
A view's ``?cols=`` lists the keys it shows, in order; unknown keys are ignored."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str = ""
    fields: tuple[str, ...] = ()
    numeric: bool = False


COLUMNS: dict[str, Column] = {
    column.key: column
    for column in (
        Column("segments", "Segments"),
        Column("arr", "ARR", "arr", ("arr",), numeric=True),
        Column("health", "Health", "health", ("health_score",), numeric=True),
        Column("renewal", "Renewal date", "renewal", ("renewal_date",)),
        Column("plan", "Plan", "plan", ("plan",)),
        Column("region", "Region", "region", ("region",)),
        Column("lifecycle", "Lifecycle stage", "lifecycle", ("lifecycle_stage",)),
        Column(
            "csm",
            "CSM",
            "csm",
            ("owner_id", "owner__username", "owner__first_name", "owner__last_name"),
        ),
        Column("industry", "Industry", "", ("industry",)),
        Column("country", "Country", "", ("country",)),
        Column("employees", "Employees", "", ("employees",), numeric=True),
        Column("last_seen", "Last seen", "", ("last_seen_at",)),
        Column("tickets", "Open tickets", "", ("open_tickets",), numeric=True),
    )
}
DEFAULT_COLUMNS = ("segments", "arr", "health", "renewal", "plan", "region", "csm")
# Always read: the name column, the link, the domain under the name, the owner (for rights).
BASE_FIELDS = ("id", "name", "domain", "owner_id", "owner__username")


def columns_chosen(raw: str | None) -> list[Column]:
    """The columns of ``?cols=`` (comma-separated keys), or the default ones."""
    keys = [key for key in (raw or "").split(",") if key in COLUMNS]
    return [COLUMNS[key] for key in dict.fromkeys(keys or DEFAULT_COLUMNS)]


def fields_read(columns: list[Column]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*BASE_FIELDS, *(f for c in columns for f in c.fields)]))

"""Where a rule field's value comes from, described as plain data.

A source serves both halves of the engine: ``read`` gives the value from a subject object
in memory (explain, preview samples, the evaluator), and the compiler turns the same source
into SQL. One description per field, so the two can never disagree on what a field means
(MRR, for instance, is ``Column("arr", divide_by=MONTHS_PER_YEAR)`` and nothing else).

Sources hold no ORM objects, except ``Computed`` and ``ComputedSet``, whose expression or
queryset is built by the app that owns the data (a join or an aggregate subquery) and only
called by the compiler.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal
from typing import Any

# Derived values (mrr, seat_utilization) are divided with more precision than any rule
# value can have (15 digits + 6 decimal places), so comparisons with them stay exact.
DIVISION = Context(prec=50)


def read_path(subject: object, path: str) -> object:
    """``subject.a.b`` for the lookup path ``a__b``; None as soon as a step is None. For a
    foreign key (``owner__username``) the related object is read only when its id is set,
    so an unassigned account costs no query."""
    value: object = subject
    for step in path.split("__"):
        if value is None:
            return None
        if getattr(value, f"{step}_id", True) is None:
            return None
        value = getattr(value, step, None)
    return value


@dataclass(frozen=True)
class Column:
    """A column of the subject, or a related column through a lookup path
    (``owner__username``, compiled through a LEFT OUTER JOIN).

    ``divide_by``: the field is the column divided by this number (mrr = arr / 12). The
    compiler compares ``column op value × divide_by`` so no division is ever rounded; the
    evaluator divides exactly; ranking orders by the column itself.
    """

    path: str
    divide_by: int = 1

    @property
    def is_related(self) -> bool:
        return "__" in self.path

    def read(self, subject: object) -> object:
        return read_path(subject, self.path)

    def scale(self, value: object) -> object:
        """The field's value from the column's (already typed) value."""
        if self.divide_by == 1 or value is None:
            return value
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return DIVISION.divide(Decimal(value), Decimal(self.divide_by))
        return None


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two integer columns, null when either is null or the
    denominator is 0. Compiled without dividing: ``n / d op a / b`` ⇔ ``n × b op d × a``."""

    numerator: str
    denominator: str

    def read(self, subject: object) -> object:
        numerator = getattr(subject, self.numerator, None)
        denominator = getattr(subject, self.denominator, None)
        if not (_is_integer(numerator) and _is_integer(denominator)) or not denominator:
            return None
        return DIVISION.divide(Decimal(numerator), Decimal(denominator))


@dataclass(frozen=True)
class JsonKey:
    """One key of a JSON object column (a declared custom attribute in ``traits``), typed
    by the field; a value that does not parse for the type is null."""

    column: str
    key: str

    def read(self, subject: object) -> object:
        document = getattr(subject, self.column, None)
        return document.get(self.key) if isinstance(document, dict) else None


@dataclass(frozen=True)
class Computed:
    """A value the subject's own row does not hold: a join or an aggregate subquery (a
    usage window, a product count, a health score).

    ``expression(today)`` returns the Django expression of the value for one subject row
    (typically a ``Subquery`` on ``OuterRef("pk")``); the compiler adds it under ``alias``
    and compares it like a column. ``read(subject, today)`` gives the same value for one
    subject in memory (one query per subject is fine there: explain reads one account).

    ``joined(today)``, when given, is what rules compile to instead: the relations to add
    (``{alias: FilteredRelation}``, each a LEFT OUTER JOIN of at most one row per subject)
    and the value's expression over them. Many fields read through one join (every
    window of a usage metric) cost the statement one join, where as many subqueries
    would each look a row up per subject. Ranking still uses ``expression``.
    """

    alias: str
    expression: Callable[[date], Any]
    read_value: Callable[[object, date], object]
    joined: Callable[[date], tuple[dict[str, Any], Any]] | None = None

    def read(self, subject: object, today: date | None = None) -> object:
        return self.read_value(subject, today or date.today())


@dataclass(frozen=True)
class ComputedSet:
    """A set of text values per subject that its own row does not hold (the product codes
    on an account's active contracts): a field of type ``set``.

    ``members(today)`` returns a queryset of every (subject, element) pair, with the
    subject's id under ``subject`` and the element under ``element`` (e.g.
    ``.annotate(subject=F("contract__account_id"), element=F("product__code"))``); the
    compiler filters it in ``EXISTS`` / ``IN`` subqueries. ``read(subject, today)`` gives
    the same set for one subject in memory.
    """

    members: Callable[[date], Any]
    read_value: Callable[[object, date], object]

    def read(self, subject: object, today: date | None = None) -> object:
        return self.read_value(subject, today or date.today())


Source = Column | Ratio | JsonKey | Computed | ComputedSet

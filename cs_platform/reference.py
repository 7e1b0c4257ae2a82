"""Small reference tables that nearly every page reads (the usage metrics, the picklists'
values and labels), kept in the shared cache so a page does not query them each time.

``remembered(key, load)`` returns the cached value or loads and caches it. Whatever writes
those rows forgets the key: ``forget_on_change(key, Model, ...)`` connects each model's
saves and deletes; code that writes them in bulk (``bulk_create``, ``QuerySet.update``,
which send no signals) calls ``forget(key)`` itself. A key is forgotten at once and again
when the writing transaction commits, so a page that read the old rows while the
transaction was open cannot keep them; ``REFERENCE_SECONDS`` bounds any staleness that
slips past both (a row changed by hand in the database)."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

REFERENCE_SECONDS = 300

T = TypeVar("T")


def remembered(key: str, load: Callable[[], T]) -> T:
    value = cache.get(key)
    if value is None:
        value = load()
        cache.set(key, value, REFERENCE_SECONDS)
    return value


def forget(key: str) -> None:
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def forget_on_change(key: str, *models: type, through: tuple[type, ...] = ()) -> None:
    """Forget ``key`` whenever a row of one of ``models`` is saved or deleted, or a
    many-to-many relation of one of the ``through`` models is changed (``add``,
    ``remove``, ``clear``, ``set``)."""

    def receiver(**kwargs: Any) -> None:
        forget(key)

    for model in models:
        for signal in (post_save, post_delete):
            signal.connect(
                receiver, sender=model, weak=False, dispatch_uid=f"reference:{key}:{model}"
            )
    for model in through:
        m2m_changed.connect(
            receiver, sender=model, weak=False, dispatch_uid=f"reference:{key}:m2m:{model}"
        )

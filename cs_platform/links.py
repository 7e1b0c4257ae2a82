"""Page addresses for lists: ``link("account-detail", 42)`` is ``reverse("account-detail",
args=[42])`` at a fraction of the cost.

``reverse`` walks the URLconf on every call (20–150 µs here); a list page calls it for
every link of every row, which was a measurable part of its render time (bench/web.py).
Here each URL name is reversed once per script prefix with a placeholder id, and the
id is put in its place: right for the views taking one integer (``<int:…>``)."""

from functools import lru_cache

from django.urls import get_script_prefix, get_urlconf, reverse

# An id no row has: it stands for the real one in the reversed address.
_PLACEHOLDER = 9_876_543_210_123


def link(name: str, pk: int) -> str:
    """The address of the view ``name`` for the integer ``pk``."""
    before, after = _pattern(get_script_prefix(), get_urlconf(), name)
    return f"{before}{int(pk)}{after}"


@lru_cache(maxsize=256)
def _pattern(script_prefix: str, urlconf: str | None, name: str) -> tuple[str, str]:
    before, placeholder, after = reverse(name, args=[_PLACEHOLDER]).partition(str(_PLACEHOLDER))
    if not placeholder:
        raise ValueError(f"{name} does not take one integer argument.")
    return before, after

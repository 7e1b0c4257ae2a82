import dataclasses
from collections.abc import Iterator

import pytest

from rules.registry import registry

from .fixed_choices import FIXED_CHOICES


@pytest.fixture(autouse=True)
def fixed_picklist_choices(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registered picklist fields with fixed choices (see fixed_choices.py)."""
    fields = registry.fields()
    for name, choices in FIXED_CHOICES.items():
        monkeypatch.setitem(fields, name, dataclasses.replace(fields[name], choices=choices))
    yield

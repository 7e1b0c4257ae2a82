import pytest


@pytest.fixture
def default_windows(db):
    """The T-120 and T-90 windows of the data migration, re-created if a transactional
    test (which flushes tables) ran earlier in the session."""
    from playbooks.models import RenewalWindow

    return [
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})[0]
        for days in (120, 90)
    ]

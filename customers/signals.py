"""Domain events that other apps may listen to; customers never imports them.

``accounts_changed`` is sent after commit with the ids of accounts whose segment-relevant
data changed (attributes, contracts, owner). Receivers must only enqueue work.

``accounts_marked`` is sent inside the writing transaction, right after the accounts were
marked for re-evaluation (``PendingEvaluation``): a receiver records the work the marks
call for in the same transaction (``cs_platform.outbox.enqueue``), so the marks and the
work to sweep them commit together.

``account_deleting`` is sent inside the deleting transaction, before Django collects the
rows that go with the accounts. A receiver may take a lock that its own app's bulk writers
hold (e.g. the renewal queue build), so that the delete waits for them and then finds
every row they wrote.
"""

from django.dispatch import Signal

# kwargs: account_ids: list[int], or None when a set-based write changed too many to list
accounts_changed = Signal()
accounts_marked = Signal()  # no kwargs
account_deleting = Signal()  # kwargs: account_ids: list[int]

# Sent before a picklist value is merged away, renamed or deleted, with ``field`` (the
# account field) and ``value`` (the stored text). A receiver returns the names of what
# still uses the value (the segments whose published current rule names it); any name
# makes the write refuse, with an error that lists them.
picklist_value_removing = Signal()  # kwargs: field: str, value: str

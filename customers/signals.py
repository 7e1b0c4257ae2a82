"""Domain events that other apps may listen to; customers never imports them.

``accounts_changed`` is sent after commit with the ids of accounts whose segment-relevant
data changed (attributes, contracts, owner). Receivers must only enqueue work.

``account_deleting`` is sent inside the deleting transaction, before Django collects the
rows that go with the accounts. A receiver may take a lock that its own app's bulk writers
hold (e.g. the renewal queue build), so that the delete waits for them and then finds
every row they wrote.
"""

from django.dispatch import Signal

accounts_changed = Signal()  # kwargs: account_ids: list[int]
account_deleting = Signal()  # kwargs: account_ids: list[int]

# Sent before a picklist value is merged away, renamed or deleted, with ``field`` (the
# account field) and ``value`` (the stored text). A receiver returns the names of what
# still uses the value (the segments whose published current rule names it); any name
# makes the write refuse, with an error that lists them.
picklist_value_removing = Signal()  # kwargs: field: str, value: str

"""The CSM's pages: my book, the accounts list (with CSV export) and the account detail
with its segments, tasks, notes and timeline.

This app sits above every domain app (playbooks -> segments -> customers) and composes
them; the domain apps never import it.
"""

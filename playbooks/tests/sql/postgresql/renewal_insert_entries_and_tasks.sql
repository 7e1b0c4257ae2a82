-- The missing entries and their tasks in one statement, returning (entries inserted,
-- tasks created). The contracts and accounts are read once, into wanted (MATERIALIZED:
-- read twice, computed once), and the tasks are made for exactly the entries this
-- statement inserts (see insert_entries_and_tasks in playbooks/renewal_queue.py).
-- Filled in: wanted_entries, insert_entries and insert_tasks statements.
-- Parameters: those of the three statements, in that order.
WITH wanted AS MATERIALIZED ({wanted_entries}),
new_entries AS ({insert_entries} RETURNING contract_id, window_id),
new_tasks AS ({insert_tasks} RETURNING 1)
SELECT (SELECT count(*) FROM new_entries), (SELECT count(*) FROM new_tasks)

-- The whole diff in one statement where a WITH clause may write (PostgreSQL): the
-- classified rows (renewal_diff.sql) are computed once, MATERIALIZED, and every class is
-- applied from them: tasks reassigned, entries deleted, updated and inserted, and the
-- renewal task of each inserted entry that is its contract's tightest. Every part sees
-- the tables as they were before the statement; no two parts write the same row.
-- Returns (tasks reassigned, entries deleted, updated, inserted, tasks created).
-- Filled in: diff, reassign, delete, update, insert_entries, insert_tasks.
-- Parameters: those of the six statements, in that order.
WITH renewal_diff AS MATERIALIZED ({diff}),
reassigned_tasks AS ({reassign} RETURNING 1),
deleted_entries AS ({delete} RETURNING 1),
updated_entries AS ({update} RETURNING 1),
new_entries AS ({insert_entries} RETURNING 1),
new_tasks AS ({insert_tasks} RETURNING 1)
SELECT (SELECT count(*) FROM reassigned_tasks), (SELECT count(*) FROM deleted_entries),
  (SELECT count(*) FROM updated_entries), (SELECT count(*) FROM new_entries),
  (SELECT count(*) FROM new_tasks)

-- The history rows of the renewal tasks this build closes (renewal_close_superseded.sql
-- closes them next): the other open or snoozed renewal tasks of each contract that got a
-- renewal task in this build (its created_at is the build's timestamp). The new task is
-- its contract's tightest window, or the overdue task, and none was made while a tighter
-- one was open (renewal_insert_tasks.sql), so the tasks closed are the wider windows'.
-- The note names the task that replaces them.
-- Filled in: the task, window and status change tables; scope, the contracts looked at
-- (empty for a full diff). Parameters: the cancelled status, now, the note's three parts
-- (before the window, the overdue task's name, after), the renewal source, now, the
-- renewal source, the open and snoozed statuses, then the scope's.
INSERT INTO {change} (task_id, from_status, to_status, by_id, at, note)
SELECT x.id, x.status, %s, NULL, %s,
  %s || COALESCE(NULLIF(yw.name, ''), 'T-' || yw.days, %s) || %s
FROM {task} y
LEFT JOIN {window} yw ON yw.id = y.window_id
JOIN {task} x ON x.contract_id = y.contract_id AND x.id <> y.id
WHERE y.source = %s AND y.created_at = %s AND y.contract_id IS NOT NULL
  AND x.source = %s AND x.status IN (%s, %s){scope}

-- Close (cancel) the renewal tasks renewal_close_superseded_history.sql wrote history
-- rows for: the other open or snoozed renewal tasks of each contract that got a renewal
-- task in this build. A CSM then holds one open task per renewal.
-- Filled in: the task table; scope, the contracts looked at (empty for a full diff).
-- Parameters: the cancelled status, now, the renewal source, now, the renewal source, the
-- open and snoozed statuses, then the scope's.
UPDATE {task} SET status = %s, snoozed_until = NULL, updated_at = %s
WHERE id IN (
  SELECT x.id FROM {task} y
  JOIN {task} x ON x.contract_id = y.contract_id AND x.id <> y.id
  WHERE y.source = %s AND y.created_at = %s AND y.contract_id IS NOT NULL
    AND x.source = %s AND x.status IN (%s, %s){scope}
)

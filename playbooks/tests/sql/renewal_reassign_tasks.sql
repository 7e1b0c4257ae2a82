-- Open renewal tasks still held by the entry's previous owner follow the account's new
-- owner. Runs before the entries are updated, since it reads their old csm; a task a
-- manager handed to someone else is left alone.
-- Filled in: the tables; scope, the changed contracts on both tables (the planner can
-- then use the contract indexes of both), empty for a full diff.
-- Parameters: now, the renewal source, the open and snoozed statuses, then the scope's.
UPDATE {task} SET assignee_id = a.owner_id, updated_at = %s
FROM {entry} e JOIN {account} a ON a.id = e.account_id
WHERE {task}.source = %s AND {task}.status IN (%s, %s)
  AND {task}.contract_id = e.contract_id
  AND e.csm_id IS DISTINCT FROM a.owner_id
  AND {task}.assignee_id IS NOT DISTINCT FROM e.csm_id{scope}

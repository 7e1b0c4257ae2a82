-- Open renewal tasks still held by an entry's previous owner follow the new owner of the
-- entry's account (renewal_diff.sql's old_csm and new_owner), for the contracts in the
-- changed part; a task a manager handed to someone else is left alone. Joined on the
-- contract: a contract moved back out of a window keeps the task of the tighter one.
-- Filled in: the task table. Parameters: now, the renewal source, the open and snoozed
-- statuses.
UPDATE {task} SET assignee_id = d.new_owner, updated_at = %s
FROM renewal_diff d
WHERE d.kind <> 'i' AND d.in_changed = 1 AND d.old_csm IS DISTINCT FROM d.new_owner
  AND {task}.contract_id = d.contract_id AND {task}.source = %s
  AND {task}.status IN (%s, %s) AND {task}.assignee_id IS NOT DISTINCT FROM d.old_csm

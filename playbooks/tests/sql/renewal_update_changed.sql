-- Entries whose owner, ARR or renewal date no longer match the contract and account.
-- Filled in: the tables; scope, the changed contracts on both sides (empty for a full
-- diff). Parameters: now, then the scope's.
UPDATE {entry} SET csm_id = a.owner_id, arr = c.arr, renewal_date = c.end_date,
  account_id = c.account_id, computed_at = %s
FROM {contract} c JOIN {account} a ON a.id = c.account_id
WHERE {entry}.contract_id = c.id{scope}
  AND ({entry}.csm_id IS DISTINCT FROM a.owner_id OR {entry}.arr <> c.arr
    OR {entry}.renewal_date <> c.end_date OR {entry}.account_id <> c.account_id)

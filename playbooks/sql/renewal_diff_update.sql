-- The entries renewal_diff.sql classified 'u': owner, ARR, renewal date and account as
-- the contract and account now say.
-- Filled in: the entry table. Parameters: now.
UPDATE {entry} SET csm_id = d.csm_id, arr = d.arr, renewal_date = d.renewal_date,
  account_id = d.account_id, computed_at = %s
FROM renewal_diff d
WHERE {entry}.id = d.entry_id AND d.kind = 'u'

-- The renewal queue's diff in one pass: the wanted rows (renewal_wanted_entries) joined
-- once to the entries written (FULL JOIN on contract and window), each row classified:
--   'i' wanted, not written: insert the entry (and maybe its task);
--   'd' written, not wanted (contract gone, not active, out of its window, window off):
--       delete the entry;
--   'u' both, and the owner, ARR, renewal date or account differ: update the entry.
-- Rows with nothing to do are left out, so a re-diff with nothing to do yields no row.
-- Each kept row also says whether the open renewal tasks of its contract follow a new
-- owner: old_csm, the entry's owner, against new_owner, the owner of the entry's account
-- (the wanted row's csm when the account is the same, the only case on most days; else
-- one account look-up for that row). in_changed: the contract is in the delta's changed
-- part (always true for a full diff), the only contracts whose entries are updated and
-- whose tasks are reassigned; a delta deletes entries only of its leaving part.
-- Filled in: the tables; changed, leaving (conditions on the contract id, "1 = 1" for a
-- full diff); wanted (renewal_wanted_entries without the account fields); entry_scope (AND ... on the entries,
-- empty for a full diff). Parameters: changed's, wanted's, entry_scope's, leaving's.
SELECT d.* FROM (
  SELECT CASE WHEN e.id IS NULL THEN 'i' WHEN s.contract_id IS NULL THEN 'd' ELSE 'u' END
      AS kind,
    e.id AS entry_id, COALESCE(s.contract_id, e.contract_id) AS contract_id,
    COALESCE(s.window_id, e.window_id) AS window_id, s.account_id, s.csm_id, s.arr,
    s.renewal_date, s.auto_renew, s.window_label, s.window_days, e.csm_id AS old_csm,
    CASE WHEN e.id IS NULL THEN NULL
      WHEN s.account_id = e.account_id THEN s.csm_id
      ELSE (SELECT a.owner_id FROM {account} a WHERE a.id = e.account_id) END AS new_owner,
    CASE WHEN {changed} THEN 1 ELSE 0 END AS in_changed,
    CASE WHEN e.id IS NOT NULL AND s.contract_id IS NOT NULL
      AND (e.csm_id IS DISTINCT FROM s.csm_id OR e.arr <> s.arr
        OR e.renewal_date <> s.renewal_date OR e.account_id <> s.account_id)
      THEN 1 ELSE 0 END AS differs
  FROM ({wanted}) s
  FULL JOIN (
    SELECT x.id, x.contract_id, x.window_id, x.account_id, x.csm_id, x.arr, x.renewal_date
    FROM {entry} x WHERE 1 = 1{entry_scope}
  ) e ON e.contract_id = s.contract_id AND COALESCE(e.window_id, 0) = COALESCE(s.window_id, 0)
) d
WHERE d.kind = 'i' OR (d.kind = 'd' AND {leaving})
  OR (d.kind = 'u' AND d.in_changed = 1 AND d.differs = 1)

-- The entries this build wrote (computed_at is the build's timestamp: inserted or
-- updated), shaped like renewal_wanted_entries, as the source of the task insert where
-- the database cannot insert entries and tasks in one statement (SQLite).
-- Filled in: the tables; scope (empty for a full diff). Parameters: now, then the scope's.
SELECT e.contract_id, e.account_id, e.window_id, e.csm_id, e.arr, e.renewal_date,
  c.auto_renew, a.name AS account_name, a.health_score, a.open_tickets,
  COALESCE(NULLIF(w.name, ''), 'T-' || w.days, '') AS window_label,
  COALESCE(w.days, -1) AS window_days
FROM {entry} e
JOIN {account} a ON a.id = e.account_id
LEFT JOIN {window} w ON w.id = e.window_id
JOIN {contract} c ON c.id = e.contract_id
WHERE e.computed_at = %s{scope}

-- Every entry the queue should hold for the scope: active contracts inside each active
-- window (window_id set) or past their end date (window_id NULL), with the account and
-- window fields the task text needs; window_days orders a contract's rows from the
-- tightest (overdue: -1, then the smallest window). One range scan of the contracts' (status, end_date)
-- index and one join to the accounts serve both kinds.
-- Filled in: the tables; window_bounds (with the overdue row); scope (empty for a full
-- diff); account_fields, the account's name, health score and open tickets for the task
-- texts, or nothing (the one-pass diff reads only the owner, from an index, and looks up
-- the rest for the rows that get a task). Parameters: the window bounds', the active status, the last day of the widest
-- window, then the scope's.
SELECT c.id AS contract_id, c.account_id, w.id AS window_id, a.owner_id AS csm_id, c.arr,
  c.end_date AS renewal_date, c.auto_renew,{account_fields} w.label AS window_label,
  w.days AS window_days
FROM {contract} c
JOIN {window_bounds} w ON c.end_date >= w.first_day AND c.end_date <= w.last_day
JOIN {account} a ON a.id = c.account_id
WHERE c.status = %s AND c.end_date <= %s{scope}

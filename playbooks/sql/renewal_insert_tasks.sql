-- One renewal task per (contract, window) row of the source rows s (shaped like
-- renewal_wanted_entries; overdue rows, which have no window, get none) that has no task,
-- whatever its status: a done or cancelled task is not created again. The unique
-- (contract, window) index makes it exactly once under reruns and concurrent builds.
-- Filled in: the task table; source; renews, the renewal date as text; arr, the ARR in
-- whole dollars with separators; days_left, the days from today to the renewal date;
-- condition, more conditions on s; missing_only and on_conflict as for the entries.
-- Parameters: a newline, today (for days_left), four newlines (portable: no E'' string),
-- the due date twice, the open status, the renewal source, now twice.
INSERT INTO {task} (account_id, assignee_id, title, description, due_date, status, source,
  contract_id, window_id, created_at, updated_at)
SELECT s.account_id, s.csm_id,
  'Renewal prep: ' || s.account_name || ', renews ' || {renews} || ', $' || {arr} || ' ARR',
  'Account: ' || s.account_name || %s
    || 'Renewal date: ' || {renews} || ' (' || CAST({days_left} AS TEXT)
    || ' days left, window ' || s.window_label || ')' || %s
    || 'ARR: $' || {arr} || %s
    || 'Health score: ' || COALESCE(CAST(s.health_score AS TEXT), 'unknown') || %s
    || 'Open tickets: ' || CAST(s.open_tickets AS TEXT) || %s
    || 'Auto-renew: ' || CASE WHEN s.auto_renew THEN 'yes' ELSE 'no' END,
  CASE WHEN s.renewal_date < %s THEN s.renewal_date ELSE %s END,
  %s, %s, s.contract_id, s.window_id, %s, %s
FROM {source} WHERE s.window_id IS NOT NULL{condition}{missing_only}{on_conflict}

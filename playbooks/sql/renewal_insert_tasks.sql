-- One renewal task per renewal, for the source rows s (shaped like renewal_wanted_entries)
-- that are their contract's tightest row (the caller's tightest condition): the task of
-- its tightest window, or the "overdue renewal" task (no window). None is made when the
-- contract already has a task for that window, whatever its status (a done or cancelled
-- task is not created again), nor while it has an open or snoozed renewal task for a
-- tighter window (a contract moved back out keeps the task it has). The unique
-- (contract, window) index, and the one-overdue-task index, make it exactly once under
-- reruns and concurrent builds.
-- Filled in: the task and window tables; source; renews, the renewal date as text; arr,
-- the ARR in whole dollars with separators; days_left, the days from today to the
-- renewal date; tightest and condition, more conditions on s; missing_only and
-- on_conflict as for the entries.
-- Parameters: overdue title and date word (two), a newline, today twice (for days_left), four
-- newlines (portable: no E'' string), today and the due date twice (due: today when
-- overdue, else the earlier of the renewal date and the due date), the open status, the
-- renewal source, now twice, the source's, then the open and snoozed statuses and the
-- renewal source (the tighter open task probe).
INSERT INTO {task} (account_id, assignee_id, title, description, due_date, status, source,
  contract_id, window_id, created_at, updated_at)
SELECT s.account_id, s.csm_id,
  CASE WHEN s.window_id IS NULL THEN %s ELSE 'Renewal prep: ' END || s.account_name
    || CASE WHEN s.window_id IS NULL THEN %s ELSE ', renews ' END || {renews}
    || ', $' || {arr} || ' ARR',
  'Account: ' || s.account_name || %s
    || 'Renewal date: ' || {renews} || ' ('
    || CASE WHEN s.window_id IS NULL
       THEN CAST(-{days_left} AS TEXT) || ' days overdue'
       ELSE CAST({days_left} AS TEXT) || ' days left, window ' || s.window_label END
    || ')' || %s
    || 'ARR: $' || {arr} || %s
    || 'Health score: ' || COALESCE(CAST(s.health_score AS TEXT), 'unknown') || %s
    || 'Open tickets: ' || CAST(s.open_tickets AS TEXT) || %s
    || 'Auto-renew: ' || CASE WHEN s.auto_renew THEN 'yes' ELSE 'no' END,
  CASE WHEN s.window_id IS NULL THEN %s WHEN s.renewal_date < %s THEN s.renewal_date
    ELSE %s END,
  %s, %s, s.contract_id, s.window_id, %s, %s
FROM {source} WHERE 1 = 1{tightest}{condition}
  AND NOT EXISTS (
    SELECT 1 FROM {task} z LEFT JOIN {window} zw ON zw.id = z.window_id
    WHERE z.contract_id = s.contract_id AND z.status IN (%s, %s) AND z.source = %s
      AND COALESCE(zw.days, -1) < s.window_days
  ){missing_only}{on_conflict}

-- Entries no longer wanted: their contract is gone (the entries' contract is not a
-- database foreign key), is no longer active, or is outside the entry's window (or the
-- window was switched off); overdue entries whose contract is no longer overdue. One pass
-- over the scope's entries, each kept when its contract is still inside its row of the
-- window bounds (the overdue row for entries without a window).
-- Filled in: the tables; scope, the contracts that can have entries to delete (empty
-- for a full diff); window_bounds, the derived table of the windows with the overdue row.
-- Parameters: the scope's, the window bounds', then the active contract status.
DELETE FROM {entry} WHERE 1 = 1{scope} AND NOT EXISTS (
  SELECT 1 FROM {contract} c
  JOIN {window_bounds} w
    ON w.id = {entry}.window_id OR (w.id IS NULL AND {entry}.window_id IS NULL)
  WHERE c.id = {entry}.contract_id AND c.status = %s
    AND c.end_date >= w.first_day AND c.end_date <= w.last_day
)

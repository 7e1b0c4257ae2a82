-- The entries of the source rows s (shaped like renewal_wanted_entries) that do not exist
-- yet. Filled in: the entry table; source; condition (AND ... on s, or nothing);
-- missing_only, either a NOT EXISTS probe of the
-- (contract, window) index (PostgreSQL, under the writers' lock) or nothing, and
-- on_conflict, nothing or ON CONFLICT DO NOTHING (SQLite; there the WHERE 1 = 1 keeps it
-- from reading the ON of ON CONFLICT as a join condition).
-- Parameters: now, then those of the source.
INSERT INTO {entry}
  (contract_id, account_id, window_id, csm_id, arr, renewal_date, overdue, computed_at)
SELECT s.contract_id, s.account_id, s.window_id, s.csm_id, s.arr, s.renewal_date,
  s.window_id IS NULL, %s
FROM {source} WHERE 1 = 1{condition}{missing_only}{on_conflict}

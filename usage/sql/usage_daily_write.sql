-- Write the changed daily rows of usage_daily_changes into the daily table in one
-- statement: new keys inserted, the others given their new value. "WHERE true" keeps
-- SQLite's parser from reading ON CONFLICT as a join constraint.
-- No parameters.
INSERT INTO usage_dailyusage AS stored (account_id, metric_id, day, value)
SELECT account_id, metric_id, day, new_value FROM usage_daily_changes WHERE true
ON CONFLICT (account_id, metric_id, day) DO UPDATE SET value = excluded.value

-- usage_daily_changes when no staged row has a stored row yet (checked by
-- usage_daily_stored_days under the usage writers' lock): every staged row is a new row
-- (no old value) that changes the stored usage, whether it replaces (daily values) or
-- adds to (events) the value of its day, which is 0. No format fields, no parameters.
INSERT INTO usage_daily_changes (account_id, metric_id, day, old_value, new_value)
SELECT s.account_id, s.metric_id, s.day, NULL, s.value
FROM usage_daily_staging s

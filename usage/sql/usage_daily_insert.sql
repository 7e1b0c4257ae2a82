-- Insert the new daily rows of usage_daily_changes (no old value), in the daily table's
-- key order (a day's batch then fills the end of each metric's key range page by page).
-- See usage_daily_update. No parameters.
INSERT INTO usage_dailyusage (account_id, metric_id, day, value)
SELECT account_id, metric_id, day, new_value FROM usage_daily_changes
WHERE old_value IS NULL
ORDER BY metric_id, day, account_id

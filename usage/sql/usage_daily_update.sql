-- Give the stored daily rows of usage_daily_changes their new value (the changes with an
-- old value: the rows that exist). With usage_daily_insert, the write of a batch: plain
-- statements, no ON CONFLICT (its speculative insertion cost more than the rows), since
-- the caller holds the usage writers' lock: no other writer adds or changes these rows.
-- No parameters.
UPDATE usage_dailyusage AS d SET value = c.new_value
FROM usage_daily_changes c
WHERE c.old_value IS NOT NULL
    AND d.metric_id = c.metric_id AND d.day = c.day AND d.account_id = c.account_id

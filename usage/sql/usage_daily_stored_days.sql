-- A row (1) when some (metric, day) of the staged batch (usage_daily_staging) may already
-- have a stored daily row for one of the batch's accounts: a stored row of that metric
-- and day between the lowest and the highest staged account. None when there is none,
-- as for a day's batch (sent in requests over ranges of accounts, or as one): then
-- usage_daily_changes_new_days takes the staged rows as they are, with no lookup per
-- row. One index descent per distinct (metric, day) of the batch; the caller holds the
-- usage writers' lock, so no other writer adds rows meanwhile. No parameters.
SELECT 1 FROM (
    SELECT metric_id, day, MIN(account_id) AS low, MAX(account_id) AS high
    FROM usage_daily_staging GROUP BY metric_id, day
) staged
WHERE EXISTS (
    SELECT 1 FROM usage_dailyusage d
    WHERE d.metric_id = staged.metric_id AND d.day = staged.day
        AND d.account_id BETWEEN staged.low AND staged.high
)
LIMIT 1

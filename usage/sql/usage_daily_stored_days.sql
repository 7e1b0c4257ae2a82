-- A row (1) when some (metric, day) of the staged batch (usage_daily_staging) already has
-- a stored daily row, none when every staged day is new for its metric (a day's batch):
-- then usage_daily_changes_new_days takes the staged rows as they are, with no lookup
-- per row. One index descent per distinct (metric, day) of the batch; the caller holds
-- the usage writers' lock, so no other writer adds rows meanwhile. No parameters.
SELECT 1 FROM (SELECT DISTINCT metric_id, day FROM usage_daily_staging) staged
WHERE EXISTS (
    SELECT 1 FROM usage_dailyusage d WHERE d.metric_id = staged.metric_id AND d.day = staged.day
)
LIMIT 1

-- The staged daily values (usage_daily_staging, one row per key) that change the daily
-- table, with the stored value they replace (old_value, NULL for a new row) and the value
-- to store (new_value), into usage_daily_changes. {new_value}: the staged value (a
-- re-sent day replaces its value) or the stored value plus the staged one (events add
-- to their day). An unchanged re-send changes nothing. The caller holds the features
-- lock of the staged metrics, so no other ingestion changes these rows meanwhile.
-- Format fields: new_value (an expression of s.value and d.value). No parameters.
INSERT INTO usage_daily_changes (account_id, metric_id, day, old_value, new_value)
SELECT s.account_id, s.metric_id, s.day, d.value, {new_value}
FROM usage_daily_staging s
LEFT JOIN usage_dailyusage d
    ON d.account_id = s.account_id AND d.metric_id = s.metric_id AND d.day = s.day
WHERE d.value IS NULL OR d.value <> {new_value}

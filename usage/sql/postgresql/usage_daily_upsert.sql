-- Upsert the staged daily values (usage_daily_staging, one row per key) into the daily
-- table in one statement and return the distinct accounts whose stored usage changed.
-- {assign}: the new value of a conflicting row (the staged value to replace a day, or
-- the stored value plus the staged one to add events); {changed}: when a conflicting row
-- really changes (an unchanged re-send touches nothing and marks no account).
-- No parameters.
WITH written AS (
    INSERT INTO usage_dailyusage AS stored (account_id, metric_id, day, value)
    SELECT account_id, metric_id, day, value FROM usage_daily_staging
    ON CONFLICT (account_id, metric_id, day) DO UPDATE SET value = {assign}
    WHERE {changed}
    RETURNING stored.account_id
)
SELECT DISTINCT account_id FROM written

-- Upsert the staged daily values (usage_daily_staging, one row per key) into the daily
-- table in one statement and return the accounts whose stored usage changed (one row per
-- written row: SQLite has no INSERT inside WITH). {assign} and {changed} as for
-- PostgreSQL. "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join.
-- No parameters.
INSERT INTO usage_dailyusage AS stored (account_id, metric_id, day, value)
SELECT account_id, metric_id, day, value FROM usage_daily_staging WHERE true
ON CONFLICT (account_id, metric_id, day) DO UPDATE SET value = {assign}
WHERE {changed}
RETURNING account_id

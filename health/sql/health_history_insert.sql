-- One history row per changed account: the values from this day on.
-- Format fields: history, changed (table names). Parameters: day, at.
INSERT INTO {history} (account_id, day, at, scorecard_id, version_id, score, status, measures)
SELECT account_id, %s, %s, scorecard_id, version_id, score, status, measures FROM {changed}
WHERE real_change = 1

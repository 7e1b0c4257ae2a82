-- Write the changed accounts' current health (one row per account).
-- "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
-- Format fields: current, changed (table names). Parameters: day.
INSERT INTO {current} (account_id, scorecard_id, version_id, score, status, measures,
  measures_digest, day)
SELECT account_id, scorecard_id, version_id, score, status, measures, digest, %s FROM {changed}
WHERE real_change = 1
ON CONFLICT (account_id) DO UPDATE SET
  scorecard_id = excluded.scorecard_id, version_id = excluded.version_id,
  score = excluded.score, status = excluded.status,
  measures = excluded.measures, measures_digest = excluded.measures_digest, day = excluded.day

-- Write the changed accounts' current health (one row per account).
-- "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
-- Format fields: current, changed (table names). Parameters: day.
INSERT INTO {current} (account_id, scorecard_id, score, status, measures, day)
SELECT account_id, scorecard_id, score, status, measures, %s FROM {changed} WHERE true
ON CONFLICT (account_id) DO UPDATE SET
  scorecard_id = excluded.scorecard_id, score = excluded.score, status = excluded.status,
  measures = excluded.measures, day = excluded.day

-- The accounts whose health changes: every target row that differs from the stored
-- current row (or has none yet, unless it is empty), and every stored row in the run's
-- scope that no scorecard scores any more (it becomes empty).
-- Format fields: target, changed, current (table names), distinct_* (the dialect's
-- "differs, NULLs included" tests), empty_json, scope (SQL selecting the ids in scope).
-- No parameters.
INSERT INTO {changed} (account_id, scorecard_id, score, status, measures)
SELECT t.account_id, t.scorecard_id, t.score, t.status, t.measures
FROM {target} t LEFT JOIN {current} c ON c.account_id = t.account_id
WHERE (c.account_id IS NULL AND (t.scorecard_id IS NOT NULL OR t.score IS NOT NULL))
   OR (c.account_id IS NOT NULL AND ({distinct_scorecard} OR {distinct_score}
       OR {distinct_status} OR {distinct_measures}))
UNION ALL
SELECT c.account_id, NULL, NULL, NULL, {empty_json}
FROM {current} c
WHERE c.account_id IN ({scope})
  AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.account_id = c.account_id)
  AND (c.scorecard_id IS NOT NULL OR c.score IS NOT NULL)

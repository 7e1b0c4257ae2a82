-- The accounts whose health changes, computed and compared in one statement: every row of
-- the target SELECT (each account in the run's scope, its scorecard and the health that
-- scorecard gives it; health.engine.targets) that differs from the stored current row,
-- or has none yet unless it is empty (no scorecard takes the account).
-- Format fields: changed, current (table names), target (the target SELECT), distinct_*
-- (the dialect's "differs, NULLs included" tests).
-- Parameters: the target SELECT's.
INSERT INTO {changed} (account_id, scorecard_id, score, status, measures)
SELECT t.account_id, t.scorecard_id, t.score, t.status, t.measures
FROM ({target}) t LEFT JOIN {current} c ON c.account_id = t.account_id
WHERE (c.account_id IS NULL AND (t.scorecard_id IS NOT NULL OR t.score IS NOT NULL))
   OR (c.account_id IS NOT NULL AND ({distinct_scorecard} OR {distinct_score}
       OR {distinct_status} OR {distinct_measures}))

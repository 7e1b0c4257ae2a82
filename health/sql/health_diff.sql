-- The accounts whose health changes, computed and compared in one statement: every row of
-- the target SELECT (each account in the run's scope, its scorecard and the health that
-- scorecard gives it; health.engine.targets) whose scorecard, version of the scorecard's
-- definition, score, status or measures digest differs from the stored current row, or that has none yet unless it is empty
-- (no scorecard takes the account). The measures' JSON is built for those rows only.
-- "real_change" is 0 for a row whose digest alone differs while its JSON is the same (a
-- stored row without a digest yet): its digest is filled in, nothing else is written.
-- Format fields: changed, current (table names), target (the target SELECT), measures
-- (its JSON over the target's columns), version (the version id by t.scorecard_id),
-- distinct_* (the dialect's "differs, NULLs included" tests).
-- Parameters: the target SELECT's.
INSERT INTO {changed} (account_id, scorecard_id, version_id, score, status, measures, digest,
  real_change)
SELECT t.account_id, t.scorecard_id, {version}, t.score, t.status, {measures}, t.digest,
  CASE WHEN c.account_id IS NULL OR {distinct_scorecard} OR {distinct_version}
         OR {distinct_score} OR {distinct_status} OR {distinct_measures} THEN 1 ELSE 0 END
FROM ({target}) t LEFT JOIN {current} c ON c.account_id = t.account_id
WHERE (c.account_id IS NULL AND (t.scorecard_id IS NOT NULL OR t.score IS NOT NULL))
   OR (c.account_id IS NOT NULL AND ({distinct_scorecard} OR {distinct_version}
       OR {distinct_score} OR {distinct_status} OR {distinct_digest}))

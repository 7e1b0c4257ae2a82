-- Copy the computed score into customers' Account.health_score where it differs, for the
-- accounts in scope. Rows another transaction holds are skipped, never waited for: a
-- writer holding an account row may be waiting for a segment sweep batch that waits for
-- this run (the health lock); a skipped row is copied by the next run of its scope.
-- The locked rows carry their new score out of the subquery (ids are unique there), so
-- the update joins them once, with no second read of the current health.
-- Format fields: account, current (table names), scope (SQL selecting ids).
-- No parameters.
UPDATE {account} a SET health_score = s.score
FROM (
  SELECT x.id, y.score FROM {account} x JOIN {current} y ON y.account_id = x.id
  WHERE x.id IN ({scope}) AND x.health_score IS DISTINCT FROM y.score
  FOR NO KEY UPDATE OF x SKIP LOCKED
) s
WHERE a.id = s.id

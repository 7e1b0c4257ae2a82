-- Copy the computed score into customers' Account.health_score where it differs, for the
-- accounts in scope. Rows another transaction holds are skipped, never waited for: a
-- writer holding an account row may be waiting for a segment sweep batch that waits for
-- this run (the health lock); a skipped row is copied by the next run of its scope.
-- Format fields: account, current (table names), scope (SQL selecting ids).
-- No parameters.
UPDATE {account} a SET health_score = c.score
FROM {current} c
WHERE c.account_id = a.id AND a.id IN (
  SELECT x.id FROM {account} x JOIN {current} y ON y.account_id = x.id
  WHERE x.id IN ({scope}) AND x.health_score IS DISTINCT FROM y.score
  FOR NO KEY UPDATE OF x SKIP LOCKED
)

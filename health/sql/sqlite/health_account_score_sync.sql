-- Copy the computed score into customers' Account.health_score where it differs, for the
-- accounts in scope (SQLite has one writer at a time: nothing to skip).
-- Format fields: account, current (table names), scope (SQL selecting ids).
-- No parameters.
UPDATE {account} SET health_score = (
  SELECT c.score FROM {current} c WHERE c.account_id = {account}.id
)
WHERE id IN (
  SELECT x.id FROM {account} x JOIN {current} y ON y.account_id = x.id
  WHERE x.id IN ({scope}) AND x.health_score IS NOT y.score
)

-- Fill in the measures digest of the stored rows whose health did not change (rows
-- written before the digest existed): nothing else of them changes.
-- Format fields: current, changed (table names). No parameters.
UPDATE {current} SET measures_digest = (
  SELECT x.digest FROM {changed} x WHERE x.account_id = {current}.account_id
)
WHERE account_id IN (SELECT account_id FROM {changed} WHERE real_change = 0)

-- A window-values row (zeros: the columns' defaults) for every changed (account, metric)
-- pair of usage_daily_changes that has none yet, for the metrics {metrics}, so that
-- usage_features_apply_changes only has to update. A plain insert of the missing pairs
-- (no ON CONFLICT: its speculative insertion cost more than the anti-join): the caller
-- holds the usage writers' lock, so no other writer adds pairs meanwhile.
-- Format fields: metrics (a list of metric ids, integers). No parameters.
INSERT INTO usage_usagefeatures (account_id, metric_id)
SELECT DISTINCT c.account_id, c.metric_id FROM usage_daily_changes c
WHERE c.metric_id IN ({metrics}) AND NOT EXISTS (
    SELECT 1 FROM usage_usagefeatures f
    WHERE f.account_id = c.account_id AND f.metric_id = c.metric_id
)

-- The changed (account, metric) pairs of usage_daily_changes, for the metrics {metrics}
-- and the days up to %(today)s, that have no window-values row yet, into
-- usage_features_added (the caller inserts their rows, zeros, and applies their changes
-- to them). Run only when the update of the existing rows found fewer rows than pairs.
-- The caller holds the usage writers' lock, so no other writer adds pairs meanwhile.
-- Format fields: metrics (a list of metric ids, integers). Parameters (named): today.
INSERT INTO usage_features_added (account_id, metric_id)
SELECT DISTINCT c.account_id, c.metric_id FROM usage_daily_changes c
WHERE c.metric_id IN ({metrics}) AND c.day < %(today)s AND NOT EXISTS (
    SELECT 1 FROM usage_usagefeatures f
    WHERE f.account_id = c.account_id AND f.metric_id = c.metric_id
)

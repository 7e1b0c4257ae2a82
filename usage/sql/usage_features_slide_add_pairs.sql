-- Before the slide of the metric %(metric)s to %(today)s: a window-values row (zeros)
-- for every account whose first row of the metric is on the entering day %(today)s, so
-- that usage_features_slide only has to update (ingestion adds a row for every pair it
-- changes, but a rebuild as of an earlier day leaves out pairs with later rows only).
-- The caller holds the usage writers' lock.
-- Parameters (named): metric, today.
INSERT INTO usage_usagefeatures (account_id, metric_id)
SELECT d.account_id, d.metric_id FROM usage_dailyusage d
WHERE d.metric_id = %(metric)s AND d.day = %(today_1)s AND NOT EXISTS (
    SELECT 1 FROM usage_usagefeatures f
    WHERE f.account_id = d.account_id AND f.metric_id = d.metric_id
)

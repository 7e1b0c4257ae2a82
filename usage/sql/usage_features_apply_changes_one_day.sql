-- usage_features_apply_changes for a batch that changed each (account, metric) on one
-- day at most (a day's batch, events of one day): the same rules, row by row, with no
-- grouping of the changes (the aggregate of a whole batch cost more than the update).
-- See usage_features_apply_changes for the rules, the fields and the parameters.
UPDATE usage_usagefeatures AS f SET
    sum_7d = ROUND(f.sum_7d + CASE WHEN c.day >= %(from_7)s THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    prev_7d = ROUND(f.prev_7d + CASE WHEN c.day >= %(prev_from_7)s AND c.day < %(from_7)s
        THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    days_7d = f.days_7d + CASE WHEN c.day >= %(from_7)s THEN (CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) ELSE 0 END,
    max_7d = CASE
        WHEN c.day < %(from_7)s THEN f.max_7d
        WHEN c.new_value >= f.max_7d THEN c.new_value
        WHEN f.maxday_7d IS NULL OR c.day <> f.maxday_7d THEN f.max_7d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id) END,
    maxday_7d = CASE
        WHEN c.day < %(from_7)s THEN f.maxday_7d
        WHEN c.new_value > f.max_7d THEN c.day
        WHEN c.new_value = f.max_7d THEN CASE WHEN f.max_7d > 0
            THEN CASE WHEN c.day >= f.maxday_7d THEN c.day ELSE f.maxday_7d END END
        WHEN f.maxday_7d IS NULL OR c.day <> f.maxday_7d THEN f.maxday_7d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_14d = ROUND(f.sum_14d + CASE WHEN c.day >= %(from_14)s THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    prev_14d = ROUND(f.prev_14d + CASE WHEN c.day >= %(prev_from_14)s AND c.day < %(from_14)s
        THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    days_14d = f.days_14d + CASE WHEN c.day >= %(from_14)s THEN (CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) ELSE 0 END,
    max_14d = CASE
        WHEN c.day < %(from_14)s THEN f.max_14d
        WHEN c.new_value >= f.max_14d THEN c.new_value
        WHEN f.maxday_14d IS NULL OR c.day <> f.maxday_14d THEN f.max_14d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id) END,
    maxday_14d = CASE
        WHEN c.day < %(from_14)s THEN f.maxday_14d
        WHEN c.new_value > f.max_14d THEN c.day
        WHEN c.new_value = f.max_14d THEN CASE WHEN f.max_14d > 0
            THEN CASE WHEN c.day >= f.maxday_14d THEN c.day ELSE f.maxday_14d END END
        WHEN f.maxday_14d IS NULL OR c.day <> f.maxday_14d THEN f.maxday_14d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_30d = ROUND(f.sum_30d + CASE WHEN c.day >= %(from_30)s THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    prev_30d = ROUND(f.prev_30d + CASE WHEN c.day >= %(prev_from_30)s AND c.day < %(from_30)s
        THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    days_30d = f.days_30d + CASE WHEN c.day >= %(from_30)s THEN (CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) ELSE 0 END,
    max_30d = CASE
        WHEN c.day < %(from_30)s THEN f.max_30d
        WHEN c.new_value >= f.max_30d THEN c.new_value
        WHEN f.maxday_30d IS NULL OR c.day <> f.maxday_30d THEN f.max_30d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id) END,
    maxday_30d = CASE
        WHEN c.day < %(from_30)s THEN f.maxday_30d
        WHEN c.new_value > f.max_30d THEN c.day
        WHEN c.new_value = f.max_30d THEN CASE WHEN f.max_30d > 0
            THEN CASE WHEN c.day >= f.maxday_30d THEN c.day ELSE f.maxday_30d END END
        WHEN f.maxday_30d IS NULL OR c.day <> f.maxday_30d THEN f.maxday_30d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_60d = ROUND(f.sum_60d + CASE WHEN c.day >= %(from_60)s THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    prev_60d = ROUND(f.prev_60d + CASE WHEN c.day >= %(prev_from_60)s AND c.day < %(from_60)s
        THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    days_60d = f.days_60d + CASE WHEN c.day >= %(from_60)s THEN (CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) ELSE 0 END,
    max_60d = CASE
        WHEN c.day < %(from_60)s THEN f.max_60d
        WHEN c.new_value >= f.max_60d THEN c.new_value
        WHEN f.maxday_60d IS NULL OR c.day <> f.maxday_60d THEN f.max_60d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id) END,
    maxday_60d = CASE
        WHEN c.day < %(from_60)s THEN f.maxday_60d
        WHEN c.new_value > f.max_60d THEN c.day
        WHEN c.new_value = f.max_60d THEN CASE WHEN f.max_60d > 0
            THEN CASE WHEN c.day >= f.maxday_60d THEN c.day ELSE f.maxday_60d END END
        WHEN f.maxday_60d IS NULL OR c.day <> f.maxday_60d THEN f.maxday_60d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_90d = ROUND(f.sum_90d + CASE WHEN c.day >= %(from_90)s THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    prev_90d = ROUND(f.prev_90d + CASE WHEN c.day >= %(prev_from_90)s AND c.day < %(from_90)s
        THEN (c.new_value - COALESCE(c.old_value, 0)) ELSE 0 END, 4),
    days_90d = f.days_90d + CASE WHEN c.day >= %(from_90)s THEN (CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) ELSE 0 END,
    max_90d = CASE
        WHEN c.day < %(from_90)s THEN f.max_90d
        WHEN c.new_value >= f.max_90d THEN c.new_value
        WHEN f.maxday_90d IS NULL OR c.day <> f.maxday_90d THEN f.max_90d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id) END,
    maxday_90d = CASE
        WHEN c.day < %(from_90)s THEN f.maxday_90d
        WHEN c.new_value > f.max_90d THEN c.day
        WHEN c.new_value = f.max_90d THEN CASE WHEN f.max_90d > 0
            THEN CASE WHEN c.day >= f.maxday_90d THEN c.day ELSE f.maxday_90d END END
        WHEN f.maxday_90d IS NULL OR c.day <> f.maxday_90d THEN f.maxday_90d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    last_active = CASE
        WHEN c.new_value > 0 AND (f.last_active IS NULL OR c.day >= f.last_active) THEN c.day
        WHEN c.new_value = 0 AND c.old_value > 0 AND c.day = f.last_active THEN (
            SELECT MAX(r.day) FROM usage_dailyusage r
            WHERE r.account_id = f.account_id AND +r.metric_id = f.metric_id
            AND r.value > 0 AND r.day < %(today)s)
        ELSE f.last_active END
FROM usage_daily_changes c
WHERE c.metric_id IN ({metrics}) AND c.day < %(today)s
    AND f.account_id = c.account_id AND f.metric_id = c.metric_id
    /* only added pairs */

-- Bring the window values as of %(today)s up to date with the changed daily rows of
-- usage_daily_changes (account, metric, day, old_value: NULL for a new row, new_value),
-- already written to the daily table, for the metrics {metrics}. Each window adds what
-- its days gained (new - old) and the days that turned active or idle; last_active takes
-- the latest day that turned active. A window's largest value follows its one changed
-- day (a higher value, the same value on a later day, or a day that did not hold it);
-- only when the day that held it went down, or several of its days changed at once, is
-- it looked up again in the daily table (by key: the window's days listed). A changed
-- day after %(today)s changes nothing (the day-change slide takes it in). A last active
-- day that went to 0 is looked up again through the account's index (the unary + keeps
-- both databases off the key, which would read every account's days up to today). The
-- caller holds the usage writers' lock. The marker comment at the end: replaced by nothing, or
-- the condition that limits the update to the pairs of usage_features_added.
-- Format fields: metrics (a list of metric ids, integers); days_N for N in 7, 14, 30,
-- 60, 90 (the window's days, quoted ISO dates).
-- Parameters (named): today, from_N and prev_from_N for N in 7, 14, 30, 60, 90.
UPDATE usage_usagefeatures AS f SET
    sum_7d = ROUND(f.sum_7d + c.sum_7d, 4),
    prev_7d = ROUND(f.prev_7d + c.prev_7d, 4),
    days_7d = f.days_7d + c.days_7d,
    max_7d = CASE
        WHEN c.changed_7d = 0 THEN f.max_7d
        WHEN c.changed_7d = 1 AND c.max_7d >= f.max_7d THEN c.max_7d
        WHEN c.changed_7d = 1 AND (f.maxday_7d IS NULL OR c.day_7d <> f.maxday_7d) THEN f.max_7d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id) END,
    maxday_7d = CASE
        WHEN c.changed_7d = 0 THEN f.maxday_7d
        WHEN c.changed_7d = 1 AND c.max_7d > f.max_7d THEN c.day_7d
        WHEN c.changed_7d = 1 AND c.max_7d = f.max_7d THEN CASE WHEN f.max_7d > 0
            THEN CASE WHEN c.day_7d >= f.maxday_7d THEN c.day_7d ELSE f.maxday_7d END END
        WHEN c.changed_7d = 1 AND (f.maxday_7d IS NULL OR c.day_7d <> f.maxday_7d) THEN f.maxday_7d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_14d = ROUND(f.sum_14d + c.sum_14d, 4),
    prev_14d = ROUND(f.prev_14d + c.prev_14d, 4),
    days_14d = f.days_14d + c.days_14d,
    max_14d = CASE
        WHEN c.changed_14d = 0 THEN f.max_14d
        WHEN c.changed_14d = 1 AND c.max_14d >= f.max_14d THEN c.max_14d
        WHEN c.changed_14d = 1 AND (f.maxday_14d IS NULL OR c.day_14d <> f.maxday_14d) THEN f.max_14d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id) END,
    maxday_14d = CASE
        WHEN c.changed_14d = 0 THEN f.maxday_14d
        WHEN c.changed_14d = 1 AND c.max_14d > f.max_14d THEN c.day_14d
        WHEN c.changed_14d = 1 AND c.max_14d = f.max_14d THEN CASE WHEN f.max_14d > 0
            THEN CASE WHEN c.day_14d >= f.maxday_14d THEN c.day_14d ELSE f.maxday_14d END END
        WHEN c.changed_14d = 1 AND (f.maxday_14d IS NULL OR c.day_14d <> f.maxday_14d) THEN f.maxday_14d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_30d = ROUND(f.sum_30d + c.sum_30d, 4),
    prev_30d = ROUND(f.prev_30d + c.prev_30d, 4),
    days_30d = f.days_30d + c.days_30d,
    max_30d = CASE
        WHEN c.changed_30d = 0 THEN f.max_30d
        WHEN c.changed_30d = 1 AND c.max_30d >= f.max_30d THEN c.max_30d
        WHEN c.changed_30d = 1 AND (f.maxday_30d IS NULL OR c.day_30d <> f.maxday_30d) THEN f.max_30d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id) END,
    maxday_30d = CASE
        WHEN c.changed_30d = 0 THEN f.maxday_30d
        WHEN c.changed_30d = 1 AND c.max_30d > f.max_30d THEN c.day_30d
        WHEN c.changed_30d = 1 AND c.max_30d = f.max_30d THEN CASE WHEN f.max_30d > 0
            THEN CASE WHEN c.day_30d >= f.maxday_30d THEN c.day_30d ELSE f.maxday_30d END END
        WHEN c.changed_30d = 1 AND (f.maxday_30d IS NULL OR c.day_30d <> f.maxday_30d) THEN f.maxday_30d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_60d = ROUND(f.sum_60d + c.sum_60d, 4),
    prev_60d = ROUND(f.prev_60d + c.prev_60d, 4),
    days_60d = f.days_60d + c.days_60d,
    max_60d = CASE
        WHEN c.changed_60d = 0 THEN f.max_60d
        WHEN c.changed_60d = 1 AND c.max_60d >= f.max_60d THEN c.max_60d
        WHEN c.changed_60d = 1 AND (f.maxday_60d IS NULL OR c.day_60d <> f.maxday_60d) THEN f.max_60d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id) END,
    maxday_60d = CASE
        WHEN c.changed_60d = 0 THEN f.maxday_60d
        WHEN c.changed_60d = 1 AND c.max_60d > f.max_60d THEN c.day_60d
        WHEN c.changed_60d = 1 AND c.max_60d = f.max_60d THEN CASE WHEN f.max_60d > 0
            THEN CASE WHEN c.day_60d >= f.maxday_60d THEN c.day_60d ELSE f.maxday_60d END END
        WHEN c.changed_60d = 1 AND (f.maxday_60d IS NULL OR c.day_60d <> f.maxday_60d) THEN f.maxday_60d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    sum_90d = ROUND(f.sum_90d + c.sum_90d, 4),
    prev_90d = ROUND(f.prev_90d + c.prev_90d, 4),
    days_90d = f.days_90d + c.days_90d,
    max_90d = CASE
        WHEN c.changed_90d = 0 THEN f.max_90d
        WHEN c.changed_90d = 1 AND c.max_90d >= f.max_90d THEN c.max_90d
        WHEN c.changed_90d = 1 AND (f.maxday_90d IS NULL OR c.day_90d <> f.maxday_90d) THEN f.max_90d
        ELSE (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id) END,
    maxday_90d = CASE
        WHEN c.changed_90d = 0 THEN f.maxday_90d
        WHEN c.changed_90d = 1 AND c.max_90d > f.max_90d THEN c.day_90d
        WHEN c.changed_90d = 1 AND c.max_90d = f.max_90d THEN CASE WHEN f.max_90d > 0
            THEN CASE WHEN c.day_90d >= f.maxday_90d THEN c.day_90d ELSE f.maxday_90d END END
        WHEN c.changed_90d = 1 AND (f.maxday_90d IS NULL OR c.day_90d <> f.maxday_90d) THEN f.maxday_90d
        ELSE (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1) END,
    last_active = CASE
        WHEN c.active IS NOT NULL AND (f.last_active IS NULL OR c.active >= f.last_active)
            THEN c.active
        WHEN c.deactivated = f.last_active THEN (
            SELECT MAX(r.day) FROM usage_dailyusage r
            WHERE r.account_id = f.account_id AND +r.metric_id = f.metric_id
            AND r.value > 0 AND r.day < %(today)s)
        ELSE f.last_active END
FROM (
    SELECT c.account_id, c.metric_id,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(from_7)s), 0) AS sum_7d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(prev_from_7)s AND c.day < %(from_7)s), 0) AS prev_7d,
        COALESCE(SUM(CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END
            - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) FILTER (WHERE c.day >= %(from_7)s), 0) AS days_7d,
        COUNT(*) FILTER (WHERE c.day >= %(from_7)s) AS changed_7d,
        MAX(c.new_value) FILTER (WHERE c.day >= %(from_7)s) AS max_7d,
        MAX(c.day) FILTER (WHERE c.day >= %(from_7)s) AS day_7d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(from_14)s), 0) AS sum_14d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(prev_from_14)s AND c.day < %(from_14)s), 0) AS prev_14d,
        COALESCE(SUM(CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END
            - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) FILTER (WHERE c.day >= %(from_14)s), 0) AS days_14d,
        COUNT(*) FILTER (WHERE c.day >= %(from_14)s) AS changed_14d,
        MAX(c.new_value) FILTER (WHERE c.day >= %(from_14)s) AS max_14d,
        MAX(c.day) FILTER (WHERE c.day >= %(from_14)s) AS day_14d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(from_30)s), 0) AS sum_30d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(prev_from_30)s AND c.day < %(from_30)s), 0) AS prev_30d,
        COALESCE(SUM(CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END
            - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) FILTER (WHERE c.day >= %(from_30)s), 0) AS days_30d,
        COUNT(*) FILTER (WHERE c.day >= %(from_30)s) AS changed_30d,
        MAX(c.new_value) FILTER (WHERE c.day >= %(from_30)s) AS max_30d,
        MAX(c.day) FILTER (WHERE c.day >= %(from_30)s) AS day_30d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(from_60)s), 0) AS sum_60d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(prev_from_60)s AND c.day < %(from_60)s), 0) AS prev_60d,
        COALESCE(SUM(CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END
            - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) FILTER (WHERE c.day >= %(from_60)s), 0) AS days_60d,
        COUNT(*) FILTER (WHERE c.day >= %(from_60)s) AS changed_60d,
        MAX(c.new_value) FILTER (WHERE c.day >= %(from_60)s) AS max_60d,
        MAX(c.day) FILTER (WHERE c.day >= %(from_60)s) AS day_60d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(from_90)s), 0) AS sum_90d,
        COALESCE(SUM(c.new_value - COALESCE(c.old_value, 0)) FILTER (WHERE c.day >= %(prev_from_90)s AND c.day < %(from_90)s), 0) AS prev_90d,
        COALESCE(SUM(CASE WHEN c.new_value > 0 THEN 1 ELSE 0 END
            - CASE WHEN c.old_value > 0 THEN 1 ELSE 0 END) FILTER (WHERE c.day >= %(from_90)s), 0) AS days_90d,
        COUNT(*) FILTER (WHERE c.day >= %(from_90)s) AS changed_90d,
        MAX(c.new_value) FILTER (WHERE c.day >= %(from_90)s) AS max_90d,
        MAX(c.day) FILTER (WHERE c.day >= %(from_90)s) AS day_90d,
        MAX(c.day) FILTER (WHERE c.new_value > 0) AS active,
        MAX(c.day) FILTER (WHERE c.new_value = 0 AND c.old_value > 0) AS deactivated
    FROM usage_daily_changes c
    WHERE c.metric_id IN ({metrics}) AND c.day < %(today)s
    GROUP BY c.account_id, c.metric_id
) c
WHERE f.account_id = c.account_id AND f.metric_id = c.metric_id
    /* only added pairs */

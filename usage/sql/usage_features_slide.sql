-- Slide the window values of the metric %(metric)s by one day, to %(today)s (the caller
-- holds the usage writers' lock and sets the metric's as_of after), from the daily rows
-- of the days that enter or leave a window: %(today)s enters every window; for each N,
-- %(today_N)s (today-N) leaves the window for the previous one and %(today_2N)s leaves
-- the previous window. Only the accounts with a row on one of those days change. A
-- window's largest value is looked up again in the daily table (by key: the window's
-- days listed) only when the latest day that held it leaves and the new day is lower
-- (the second lookup of the pair finds its pages in memory).
-- A day holds one row per account (the key is metric, day, account), so each day's value
-- is taken with MAX, which keeps the value itself: SUM over numeric keeps an accumulator
-- per group and column (about 190 MB for 100,000 accounts against 50 MB).
-- Format fields: days_N for N in 7, 14, 30, 60, 90 (the new window's days, quoted ISO
-- dates).
-- Parameters (named): metric, today, today_N for N in 7, 14, 28, 30, 60, 90, 120, 180.
UPDATE usage_usagefeatures AS f SET
    sum_7d = ROUND(f.sum_7d + COALESCE(c.entered, 0) - COALESCE(c.left_7d, 0), 4),
    prev_7d = ROUND(f.prev_7d + COALESCE(c.left_7d, 0) - COALESCE(c.prev_left_7d, 0), 4),
    days_7d = f.days_7d + c.entered_days - c.left_days_7d,
    max_7d = CASE
        WHEN c.entered_max >= f.max_7d THEN c.entered_max
        WHEN f.max_7d > 0 AND f.maxday_7d <= %(today_7)s THEN (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id)
        ELSE f.max_7d END,
    maxday_7d = CASE
        WHEN c.entered_max >= f.max_7d THEN CASE WHEN c.entered_max > 0 THEN %(today_1)s END
        WHEN f.max_7d > 0 AND f.maxday_7d <= %(today_7)s THEN (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_7})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1)
        ELSE f.maxday_7d END,
    sum_14d = ROUND(f.sum_14d + COALESCE(c.entered, 0) - COALESCE(c.left_14d, 0), 4),
    prev_14d = ROUND(f.prev_14d + COALESCE(c.left_14d, 0) - COALESCE(c.prev_left_14d, 0), 4),
    days_14d = f.days_14d + c.entered_days - c.left_days_14d,
    max_14d = CASE
        WHEN c.entered_max >= f.max_14d THEN c.entered_max
        WHEN f.max_14d > 0 AND f.maxday_14d <= %(today_14)s THEN (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id)
        ELSE f.max_14d END,
    maxday_14d = CASE
        WHEN c.entered_max >= f.max_14d THEN CASE WHEN c.entered_max > 0 THEN %(today_1)s END
        WHEN f.max_14d > 0 AND f.maxday_14d <= %(today_14)s THEN (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_14})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1)
        ELSE f.maxday_14d END,
    sum_30d = ROUND(f.sum_30d + COALESCE(c.entered, 0) - COALESCE(c.left_30d, 0), 4),
    prev_30d = ROUND(f.prev_30d + COALESCE(c.left_30d, 0) - COALESCE(c.prev_left_30d, 0), 4),
    days_30d = f.days_30d + c.entered_days - c.left_days_30d,
    max_30d = CASE
        WHEN c.entered_max >= f.max_30d THEN c.entered_max
        WHEN f.max_30d > 0 AND f.maxday_30d <= %(today_30)s THEN (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id)
        ELSE f.max_30d END,
    maxday_30d = CASE
        WHEN c.entered_max >= f.max_30d THEN CASE WHEN c.entered_max > 0 THEN %(today_1)s END
        WHEN f.max_30d > 0 AND f.maxday_30d <= %(today_30)s THEN (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_30})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1)
        ELSE f.maxday_30d END,
    sum_60d = ROUND(f.sum_60d + COALESCE(c.entered, 0) - COALESCE(c.left_60d, 0), 4),
    prev_60d = ROUND(f.prev_60d + COALESCE(c.left_60d, 0) - COALESCE(c.prev_left_60d, 0), 4),
    days_60d = f.days_60d + c.entered_days - c.left_days_60d,
    max_60d = CASE
        WHEN c.entered_max >= f.max_60d THEN c.entered_max
        WHEN f.max_60d > 0 AND f.maxday_60d <= %(today_60)s THEN (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id)
        ELSE f.max_60d END,
    maxday_60d = CASE
        WHEN c.entered_max >= f.max_60d THEN CASE WHEN c.entered_max > 0 THEN %(today_1)s END
        WHEN f.max_60d > 0 AND f.maxday_60d <= %(today_60)s THEN (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_60})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1)
        ELSE f.maxday_60d END,
    sum_90d = ROUND(f.sum_90d + COALESCE(c.entered, 0) - COALESCE(c.left_90d, 0), 4),
    prev_90d = ROUND(f.prev_90d + COALESCE(c.left_90d, 0) - COALESCE(c.prev_left_90d, 0), 4),
    days_90d = f.days_90d + c.entered_days - c.left_days_90d,
    max_90d = CASE
        WHEN c.entered_max >= f.max_90d THEN c.entered_max
        WHEN f.max_90d > 0 AND f.maxday_90d <= %(today_90)s THEN (SELECT COALESCE(MAX(r.value), 0) FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id)
        ELSE f.max_90d END,
    maxday_90d = CASE
        WHEN c.entered_max >= f.max_90d THEN CASE WHEN c.entered_max > 0 THEN %(today_1)s END
        WHEN f.max_90d > 0 AND f.maxday_90d <= %(today_90)s THEN (SELECT r.day FROM usage_dailyusage r
            WHERE r.metric_id = f.metric_id AND r.day IN ({days_90})
            AND r.account_id = f.account_id AND r.value > 0
            ORDER BY r.value DESC, r.day DESC LIMIT 1)
        ELSE f.maxday_90d END,
    last_active = CASE WHEN c.entered_days > 0 THEN %(today_1)s ELSE f.last_active END
FROM (
    SELECT d.account_id,
        MAX(d.value) FILTER (WHERE d.day = %(today_1)s) AS entered,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_1)s) AS entered_days,
        MAX(d.value) FILTER (WHERE d.day = %(today_1)s) AS entered_max,
        MAX(d.value) FILTER (WHERE d.day = %(today_7)s) AS left_7d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_7)s) AS left_days_7d,
        MAX(d.value) FILTER (WHERE d.day = %(today_14)s) AS prev_left_7d,
        MAX(d.value) FILTER (WHERE d.day = %(today_14)s) AS left_14d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_14)s) AS left_days_14d,
        MAX(d.value) FILTER (WHERE d.day = %(today_28)s) AS prev_left_14d,
        MAX(d.value) FILTER (WHERE d.day = %(today_30)s) AS left_30d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_30)s) AS left_days_30d,
        MAX(d.value) FILTER (WHERE d.day = %(today_60)s) AS prev_left_30d,
        MAX(d.value) FILTER (WHERE d.day = %(today_60)s) AS left_60d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_60)s) AS left_days_60d,
        MAX(d.value) FILTER (WHERE d.day = %(today_120)s) AS prev_left_60d,
        MAX(d.value) FILTER (WHERE d.day = %(today_90)s) AS left_90d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day = %(today_90)s) AS left_days_90d,
        MAX(d.value) FILTER (WHERE d.day = %(today_180)s) AS prev_left_90d
    FROM usage_dailyusage d
    WHERE d.metric_id = %(metric)s AND d.day IN (%(today_1)s, %(today_7)s, %(today_14)s, %(today_28)s, %(today_30)s, %(today_60)s, %(today_120)s, %(today_90)s, %(today_180)s)
    GROUP BY d.account_id
) c
WHERE f.metric_id = %(metric)s AND f.account_id = c.account_id

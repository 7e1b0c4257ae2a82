-- Build the window values of the metrics {metrics} as of %(today)s from the daily
-- table: one row per (account, metric) with at least one daily row up to %(today)s (the
-- caller deletes the metrics' rows first). w: one pass over every kept day (last_active
-- looks back as far as the data goes); top: a second pass over the longest window's days
-- for the latest day holding each window's largest value. Windows as in usage/windows.py:
-- N days = %(from_N)s .. %(today)s (today-N+1 .. today), the previous window
-- %(prev_from_N)s .. the day before %(from_N)s.
-- Format fields: metrics (a list of metric ids, integers).
-- Parameters (named): today, from_N and prev_from_N for N in 7, 14, 30, 60, 90.
INSERT INTO usage_usagefeatures (
    account_id,
    metric_id,
    last_active,
    sum_7d,
    prev_7d,
    max_7d,
    maxday_7d,
    days_7d,
    sum_14d,
    prev_14d,
    max_14d,
    maxday_14d,
    days_14d,
    sum_30d,
    prev_30d,
    max_30d,
    maxday_30d,
    days_30d,
    sum_60d,
    prev_60d,
    max_60d,
    maxday_60d,
    days_60d,
    sum_90d,
    prev_90d,
    max_90d,
    maxday_90d,
    days_90d
)
WITH w AS (
    SELECT d.account_id, d.metric_id,
        MAX(d.day) FILTER (WHERE d.value > 0) AS last_active,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_7)s), 0) AS sum_7d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_7)s AND d.day < %(from_7)s), 0) AS prev_7d,
        COALESCE(MAX(d.value) FILTER (WHERE d.day >= %(from_7)s), 0) AS max_7d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_7)s) AS days_7d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_14)s), 0) AS sum_14d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_14)s AND d.day < %(from_14)s), 0) AS prev_14d,
        COALESCE(MAX(d.value) FILTER (WHERE d.day >= %(from_14)s), 0) AS max_14d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_14)s) AS days_14d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_30)s), 0) AS sum_30d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_30)s AND d.day < %(from_30)s), 0) AS prev_30d,
        COALESCE(MAX(d.value) FILTER (WHERE d.day >= %(from_30)s), 0) AS max_30d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_30)s) AS days_30d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_60)s), 0) AS sum_60d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_60)s AND d.day < %(from_60)s), 0) AS prev_60d,
        COALESCE(MAX(d.value) FILTER (WHERE d.day >= %(from_60)s), 0) AS max_60d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_60)s) AS days_60d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_90)s), 0) AS sum_90d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_90)s AND d.day < %(from_90)s), 0) AS prev_90d,
        COALESCE(MAX(d.value) FILTER (WHERE d.day >= %(from_90)s), 0) AS max_90d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_90)s) AS days_90d
    FROM usage_dailyusage d
    WHERE d.metric_id IN ({metrics}) AND d.day < %(today)s
    GROUP BY d.account_id, d.metric_id
), top AS (
    SELECT d.account_id, d.metric_id,
        MAX(d.day) FILTER (WHERE d.day >= %(from_7)s AND d.value = w.max_7d) AS maxday_7d,
        MAX(d.day) FILTER (WHERE d.day >= %(from_14)s AND d.value = w.max_14d) AS maxday_14d,
        MAX(d.day) FILTER (WHERE d.day >= %(from_30)s AND d.value = w.max_30d) AS maxday_30d,
        MAX(d.day) FILTER (WHERE d.day >= %(from_60)s AND d.value = w.max_60d) AS maxday_60d,
        MAX(d.day) FILTER (WHERE d.day >= %(from_90)s AND d.value = w.max_90d) AS maxday_90d
    FROM usage_dailyusage d
    JOIN w ON w.account_id = d.account_id AND w.metric_id = d.metric_id
    WHERE d.metric_id IN ({metrics}) AND d.day >= %(from_90)s AND d.day < %(today)s
        AND d.value > 0
    GROUP BY d.account_id, d.metric_id
)
SELECT w.account_id,
    w.metric_id,
    w.last_active,
    w.sum_7d,
    w.prev_7d,
    w.max_7d,
    top.maxday_7d,
    w.days_7d,
    w.sum_14d,
    w.prev_14d,
    w.max_14d,
    top.maxday_14d,
    w.days_14d,
    w.sum_30d,
    w.prev_30d,
    w.max_30d,
    top.maxday_30d,
    w.days_30d,
    w.sum_60d,
    w.prev_60d,
    w.max_60d,
    top.maxday_60d,
    w.days_60d,
    w.sum_90d,
    w.prev_90d,
    w.max_90d,
    top.maxday_90d,
    w.days_90d
FROM w LEFT JOIN top ON top.account_id = w.account_id AND top.metric_id = w.metric_id
ORDER BY w.metric_id, w.account_id

-- Build the window values of the metrics {metrics} as of %(today)s from the daily
-- table, in one pass over their rows: one row per (account, metric) with a daily row up
-- to %(today)s (the caller deletes the metrics' rows first). Every kept day is read
-- (last_active looks back as far as the data goes). A window's largest value and the
-- latest day holding it come from one maximum of value x 10^9 + the day's number since
-- 1900 (a value has 4 decimal places, so value x 10^9 is a multiple of 10^5, and a day
-- number is below 10^5 until 2173; a value above 0 makes it 10^5 or more): exact
-- numeric arithmetic, no second pass.
-- Windows as in usage/windows.py: N days = %(from_N)s .. %(today)s (today-N+1 ..
-- today), the previous window %(prev_from_N)s .. the day before %(from_N)s.
-- Rows are written in key order (metric, account), the order the slide reads them in.
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
SELECT w.account_id,
    w.metric_id,
    w.last_active,
    w.sum_7d,
    w.prev_7d,
    COALESCE(trunc(w.top_7d / 1000000000, 4), 0),
    CASE WHEN w.top_7d >= 100000
        THEN DATE '1900-01-01' + (w.top_7d %% 100000)::integer END,
    w.days_7d,
    w.sum_14d,
    w.prev_14d,
    COALESCE(trunc(w.top_14d / 1000000000, 4), 0),
    CASE WHEN w.top_14d >= 100000
        THEN DATE '1900-01-01' + (w.top_14d %% 100000)::integer END,
    w.days_14d,
    w.sum_30d,
    w.prev_30d,
    COALESCE(trunc(w.top_30d / 1000000000, 4), 0),
    CASE WHEN w.top_30d >= 100000
        THEN DATE '1900-01-01' + (w.top_30d %% 100000)::integer END,
    w.days_30d,
    w.sum_60d,
    w.prev_60d,
    COALESCE(trunc(w.top_60d / 1000000000, 4), 0),
    CASE WHEN w.top_60d >= 100000
        THEN DATE '1900-01-01' + (w.top_60d %% 100000)::integer END,
    w.days_60d,
    w.sum_90d,
    w.prev_90d,
    COALESCE(trunc(w.top_90d / 1000000000, 4), 0),
    CASE WHEN w.top_90d >= 100000
        THEN DATE '1900-01-01' + (w.top_90d %% 100000)::integer END,
    w.days_90d
FROM (
    SELECT d.account_id, d.metric_id,
        MAX(d.day) FILTER (WHERE d.value > 0) AS last_active,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_7)s), 0) AS sum_7d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_7)s AND d.day < %(from_7)s), 0) AS prev_7d,
        MAX(d.value * 1000000000 + (d.day - DATE '1900-01-01')) FILTER (WHERE d.day >= %(from_7)s) AS top_7d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_7)s) AS days_7d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_14)s), 0) AS sum_14d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_14)s AND d.day < %(from_14)s), 0) AS prev_14d,
        MAX(d.value * 1000000000 + (d.day - DATE '1900-01-01')) FILTER (WHERE d.day >= %(from_14)s) AS top_14d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_14)s) AS days_14d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_30)s), 0) AS sum_30d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_30)s AND d.day < %(from_30)s), 0) AS prev_30d,
        MAX(d.value * 1000000000 + (d.day - DATE '1900-01-01')) FILTER (WHERE d.day >= %(from_30)s) AS top_30d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_30)s) AS days_30d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_60)s), 0) AS sum_60d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_60)s AND d.day < %(from_60)s), 0) AS prev_60d,
        MAX(d.value * 1000000000 + (d.day - DATE '1900-01-01')) FILTER (WHERE d.day >= %(from_60)s) AS top_60d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_60)s) AS days_60d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(from_90)s), 0) AS sum_90d,
        COALESCE(SUM(d.value) FILTER (WHERE d.day >= %(prev_from_90)s AND d.day < %(from_90)s), 0) AS prev_90d,
        MAX(d.value * 1000000000 + (d.day - DATE '1900-01-01')) FILTER (WHERE d.day >= %(from_90)s) AS top_90d,
        COUNT(*) FILTER (WHERE d.value > 0 AND d.day >= %(from_90)s) AS days_90d
    FROM usage_dailyusage d
    WHERE d.metric_id IN ({metrics}) AND d.day < %(today)s
    GROUP BY d.account_id, d.metric_id
) w
ORDER BY w.metric_id, w.account_id

-- The accounts behind one figure of the analytics pages, with their ARR at the start and
-- the end of its window: (account_id, ARR on S, ARR on D, renewed contracts, decided
-- contracts) for each account of the population that passes the figure's filter, largest
-- ARR on D first, one page of them.
-- Format fields: population (SQL selecting (segment_id, account_id) rows: only
-- account_id is read), contract (the quoted table), counts_on_day and counts_on_start
-- (contract c counts on D, on S: a placeholder twice each), renewed, churned, cancelled
-- (the contract statuses), filter (a predicate on f: arr_s, arr_d, renewed, decided),
-- page (empty, or a LIMIT and an OFFSET placeholder).
-- Parameters: those of population, S twice (ARR on S), D twice (ARR on D), S, D (renewed
-- in (S, D]), S, D (decided in (S, D]), then the page's limit and offset when paged.
--
-- The same sums per account as analytics_metrics_window.sql, so the list adds up to the
-- figure it explains.
WITH pop AS (SELECT DISTINCT p.account_id FROM ({population}) p),
f AS (
    SELECT pop.account_id,
        COALESCE(SUM(CASE WHEN {counts_on_start} THEN c.arr ELSE 0 END), 0) AS arr_s,
        COALESCE(SUM(CASE WHEN {counts_on_day} THEN c.arr ELSE 0 END), 0) AS arr_d,
        COALESCE(SUM(CASE WHEN c.status = '{renewed}' AND c.end_date > %s AND c.end_date <= %s
            THEN 1 ELSE 0 END), 0) AS renewed,
        COALESCE(SUM(CASE WHEN c.status IN ('{renewed}', '{churned}') AND c.end_date > %s
            AND c.end_date <= %s THEN 1 ELSE 0 END), 0) AS decided
    FROM pop LEFT JOIN {contract} c ON c.account_id = pop.account_id AND c.status <> '{cancelled}'
    GROUP BY pop.account_id
)
SELECT f.account_id, f.arr_s, f.arr_d, f.renewed, f.decided FROM f
WHERE {filter}
ORDER BY f.arr_d DESC, f.account_id{page}

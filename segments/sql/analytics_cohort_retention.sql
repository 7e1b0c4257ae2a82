-- Logo and revenue retention of signup-month cohorts: one row per (cohort, months since
-- signup k) cell with the cohort's size, the accounts still with ARR and their ARR when the
-- cell is measured.
-- Format fields: members_cte (empty, or "pop AS (...)," for a segment's members),
-- cells (one row of four placeholders per cell: cohort start, cohort end, k, measured on),
-- account and contract (the quoted tables), filters (predicates on account a),
-- counts_on_measured (contract c counts on cells.measured_on).
-- Parameters: those of the members CTE, the cells' values, then the filters' values.
--
-- Each account is placed in its cohort by a range join with the months (one index range
-- scan per month); the cells then join the cohort accounts on equality (a hash join).
WITH {members_cte}
cells (cohort_start, cohort_end, k, measured_on) AS (VALUES {cells}),
cohort_accounts AS (
    SELECT a.id AS account_id, cells.cohort_start FROM {account} a
    JOIN cells ON cells.k = 0 AND a.customer_since >= cells.cohort_start
        AND a.customer_since <= cells.cohort_end
    WHERE {filters}
),
sizes AS (
    SELECT cohort_start, COUNT(*) AS accounts FROM cohort_accounts GROUP BY cohort_start
),
counted AS (
    SELECT cells.cohort_start, cells.k, c.account_id, c.arr
    FROM cohort_accounts ca
    JOIN cells ON cells.cohort_start = ca.cohort_start
    JOIN {contract} c ON c.account_id = ca.account_id AND {counts_on_measured}
),
per_cell AS (
    SELECT cohort_start, k, SUM(arr) AS arr,
        COUNT(DISTINCT CASE WHEN arr > 0 THEN account_id END) AS retained
    FROM counted GROUP BY cohort_start, k
)
SELECT cells.cohort_start, cells.k, sizes.accounts, COALESCE(per_cell.retained, 0),
    COALESCE(per_cell.arr, 0)
FROM cells
JOIN sizes ON sizes.cohort_start = cells.cohort_start
LEFT JOIN per_cell ON per_cell.cohort_start = cells.cohort_start AND per_cell.k = cells.k
ORDER BY cells.cohort_start, cells.k

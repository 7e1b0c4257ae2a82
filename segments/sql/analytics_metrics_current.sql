-- The sums behind every segment's figures over its population as of D, for all segments
-- at once: one row ('cur', segment_id, accounts, ARR on D, cost to serve, ARR of the
-- accounts with a cost, CAC count, CAC sum, ARR of the accounts with a CAC, health count,
-- health sum) per segment, then the overlap rows when asked (overlap_rows).
-- Format fields: members (SQL of the population: segment_id, account_id), masks (the masks
-- CTE over pop), bits (the derived table of segment bits), contract and account (the quoted
-- tables), counts_on_day (contract c counts on D, a placeholder twice), overlap_rows (empty,
-- or UNION ALL and the overlap rows over the same masks), arr_d (an account's ARR on D:
-- from acct for a past D; for today, the account's own ARR column, DESIGN section 1's ARR,
-- which the segment's totals and every list show, so one page never shows two figures)
-- and acct_off ("1 = 0 AND " when acct is not needed, else empty).
-- Parameters: those of members, D twice, those of the overlap rows.
--
-- Each account's figures are summed once per distinct combination of segments (its mask),
-- then spread back to the segments of that combination: see segment_masks_sql.
WITH pop AS ({members}), {masks},
acct AS (
    SELECT c.account_id, SUM(c.arr) AS arr_d FROM {contract} c
    WHERE {acct_off}{counts_on_day} GROUP BY c.account_id
),
combos AS (
    SELECT masks.mask, COUNT(*) AS n,
        SUM({arr_d}) AS arr,
        SUM(a.cost_to_serve) AS cost,
        SUM(CASE WHEN a.cost_to_serve IS NOT NULL THEN {arr_d} ELSE 0 END)
            AS cost_arr,
        COUNT(a.acquisition_cost) AS cac_n,
        SUM(a.acquisition_cost) AS cac,
        SUM(CASE WHEN a.acquisition_cost IS NOT NULL THEN {arr_d} ELSE 0 END)
            AS cac_arr,
        COUNT(a.health_score) AS health_n,
        SUM(a.health_score) AS health
    FROM masks
    JOIN {account} a ON a.id = masks.account_id
    LEFT JOIN acct ON acct.account_id = masks.account_id
    GROUP BY masks.mask
)
SELECT 'cur', b.segment_id, SUM(n), SUM(arr), SUM(cost), SUM(cost_arr), SUM(cac_n),
    SUM(cac), SUM(cac_arr), SUM(health_n), SUM(health)
FROM combos JOIN {bits} b ON (combos.mask & b.bit) <> 0
GROUP BY b.segment_id{overlap_rows}

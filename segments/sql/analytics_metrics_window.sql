-- The window sums of some segments, for all of them at once: one row ('win', segment_id,
-- |P|, ARR on S, ARR on D, kept ARR, churned accounts, renewed contracts, decided
-- contracts, NULL, NULL) per segment, over P = the accounts of members_at_start with ARR on
-- S > 0 (S = D - 365 days). For a segment that began before S, members_at_start is its
-- members at the end of S; for a younger one, every account that has been a member since
-- it began, up to the end of D (DESIGN section 6, "since_created").
-- Format fields: members_at_start (SQL of the population: segment_id, account_id),
-- masks (the masks CTE over at_start), bits (the derived table of segment bits), contract
-- (the quoted table), counts_on_day and counts_on_start (contract c counts on D, on S: a
-- placeholder twice each), renewed, churned, cancelled, active (the contract statuses).
-- Parameters: those of members_at_start, D twice, S twice, then S, D (renewed in (S, D]),
-- S, D (decided in (S, D]), D, S (the WHERE).
--
-- ARR on S, ARR on D and the window's renewals per account come from a single pass over
-- the contracts (the acct CTE), joined with the members at S. A contract that counts on S
-- or on D, or is decided in (S, D], is not cancelled, starts by D (end_date >= start_date)
-- and ends after S or is still active: the WHERE drops the rest before the aggregate.
WITH at_start AS ({members_at_start}), {masks},
acct AS (
    SELECT c.account_id,
        SUM(CASE WHEN {counts_on_day} THEN c.arr ELSE 0 END) AS arr_d,
        SUM(CASE WHEN {counts_on_start} THEN c.arr ELSE 0 END) AS arr_s,
        SUM(CASE WHEN c.status = '{renewed}' AND c.end_date > %s AND c.end_date <= %s
            THEN 1 ELSE 0 END) AS renewed,
        SUM(CASE WHEN c.status IN ('{renewed}', '{churned}') AND c.end_date > %s
            AND c.end_date <= %s THEN 1 ELSE 0 END) AS decided
    FROM {contract} c
    WHERE c.status <> '{cancelled}' AND c.start_date <= %s
        AND (c.end_date >= %s OR c.status = '{active}')
    GROUP BY c.account_id
),
combos AS (
    SELECT masks.mask, COUNT(*) AS n, SUM(acct.arr_s) AS start_arr,
        SUM(acct.arr_d) AS end_arr,
        SUM(CASE WHEN acct.arr_d < acct.arr_s THEN acct.arr_d ELSE acct.arr_s END)
            AS kept_arr,
        SUM(CASE WHEN acct.arr_d = 0 THEN 1 ELSE 0 END) AS churned,
        SUM(acct.renewed) AS renewed, SUM(acct.decided) AS decided
    FROM masks JOIN acct ON acct.account_id = masks.account_id
    WHERE acct.arr_s > 0
    GROUP BY masks.mask
)
SELECT 'win', b.segment_id, SUM(n), SUM(start_arr), SUM(end_arr), SUM(kept_arr),
    SUM(churned), SUM(renewed), SUM(decided), NULL, NULL
FROM combos JOIN {bits} b ON (combos.mask & b.bit) <> 0
GROUP BY b.segment_id

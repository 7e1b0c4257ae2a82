-- The window sums of the segments that began after S = D - 365 days, for all of them at
-- once: one row ('win', segment_id, |P|, start ARR, ARR on D, kept ARR, churned accounts,
-- renewed contracts, decided contracts, NULL, NULL) per segment, over P = every account
-- that entered the segment by the end of D with ARR > 0 on the day it first entered, each
-- measured from that day.
-- Format fields: first_day (the local date of MIN(e.at), from Django's backend
-- operations), membership_event and contract (the quoted tables), segment_ids (one
-- placeholder per id), counts_on_entry (contract c counts on base.start_date),
-- counts_on_day (contract c counts on D: a placeholder twice), renewed, churned, cancelled
-- (the contract statuses).
-- Parameters: those of first_day, the segment ids, the entered kind, the end of D, then D
-- five times (ARR on D twice, renewed by D, decided by D, started by D).
--
-- Each member's contracts once: its ARR on its entry day and on D, and its contracts
-- decided after that day; a contract can only do any of it if it starts by D.
WITH base AS (
    SELECT e.segment_id, e.account_id, {first_day} AS start_date
    FROM (
        SELECT e.segment_id, e.account_id, e.at FROM {membership_event} e
        WHERE e.segment_id IN ({segment_ids}) AND e.kind = %s AND e.at < %s
        ORDER BY e.segment_id, e.account_id
    ) e
    GROUP BY e.segment_id, e.account_id
)
SELECT 'win', w.segment_id, COUNT(*), SUM(w.start_arr), SUM(w.end_arr),
    SUM(CASE WHEN w.end_arr < w.start_arr THEN w.end_arr ELSE w.start_arr END),
    SUM(CASE WHEN w.end_arr = 0 THEN 1 ELSE 0 END), SUM(w.renewed), SUM(w.decided),
    NULL, NULL
FROM (
    SELECT base.segment_id, base.account_id,
        SUM(CASE WHEN {counts_on_entry} THEN c.arr ELSE 0 END) AS start_arr,
        SUM(CASE WHEN {counts_on_day} THEN c.arr ELSE 0 END) AS end_arr,
        SUM(CASE WHEN c.status = '{renewed}' AND c.end_date > base.start_date
            AND c.end_date <= %s THEN 1 ELSE 0 END) AS renewed,
        SUM(CASE WHEN c.status IN ('{renewed}', '{churned}') AND c.end_date > base.start_date
            AND c.end_date <= %s THEN 1 ELSE 0 END) AS decided
    FROM base JOIN {contract} c ON c.account_id = base.account_id
    WHERE c.status <> '{cancelled}' AND c.start_date <= %s
    GROUP BY base.segment_id, base.account_id
) w
WHERE w.start_arr > 0
GROUP BY w.segment_id

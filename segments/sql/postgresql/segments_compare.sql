-- The WITH clause comparing, account by account, the segments an account matches with
-- those it is stored in (PostgreSQL arrays), for a sweep batch. A fragment:
-- segments_diff_batch puts its own statement after it. (The recompute of every segment
-- compares bitmasks instead: segments_range_compare.)
--
-- e: the evaluated accounts (id, arr, one column per segment: its id when the account
--    matches the segment's rule, else NULL);
-- w: each account's wanted segments, an array in segment id order, and its ARR in cents;
-- h: each account's held segments (the held query: each batch account's looked up in
--    the (account, segment) index);
-- x: only the accounts whose two arrays differ (one FULL JOIN on the account id). An
--    unchanged account costs one array comparison, whatever its number of segments.
--
-- Filled in by the caller: columns (of e), materialized (MATERIALIZED, so the batch's
-- accounts are looked up by id first), evaluated_sql, matched (the segment columns of e),
-- held (the query of h).
WITH e({columns}) AS {materialized}({evaluated_sql}),
w AS (
    SELECT e.id AS account_id, (e.arr * 100)::bigint AS cents,
        array_remove(ARRAY[{matched}]::bigint[], NULL) AS segs
    FROM e
),
h AS ({held}),
x AS MATERIALIZED (
    SELECT COALESCE(w.account_id, h.account_id) AS account_id,
        COALESCE(w.segs, '{{}}') AS want, COALESCE(h.segs, '{{}}') AS have
    FROM w FULL JOIN h ON h.account_id = w.account_id
    WHERE COALESCE(w.segs, '{{}}') <> COALESCE(h.segs, '{{}}')
)

-- The many-segment diff without arrays: the wanted and held (segment, account) pairs
-- compared with NOT EXISTS both ways, into the sweep diff table.
-- Filled in by the caller: columns (of e), evaluated_sql (id, arr, one column per
-- segment: its id when the account matches, else NULL), wanted (one SELECT per segment
-- of e's matching accounts, joined by UNION ALL), held (the stored pairs of those
-- segments, a batch's accounts only in a sweep), sweep_diff_table.
-- Parameters: the evaluated query's, then true, false.
WITH e({columns}) AS ({evaluated_sql}),
w AS ({wanted}),
h AS ({held})
INSERT INTO {sweep_diff_table} (segment_id, account_id, entering)
SELECT w.segment_id, w.account_id, %s FROM w
WHERE NOT EXISTS (
    SELECT 1 FROM h WHERE h.segment_id = w.segment_id AND h.account_id = w.account_id
)
UNION ALL
SELECT h.segment_id, h.account_id, %s FROM h
WHERE NOT EXISTS (
    SELECT 1 FROM w WHERE w.segment_id = h.segment_id AND w.account_id = h.account_id
);

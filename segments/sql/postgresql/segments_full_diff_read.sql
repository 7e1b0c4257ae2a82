-- The full diff (segments_full_diff_create) moved into the sweep diff table, returning
-- its counts per segment and each segment's new count and ARR as
-- ('total', segment, members, NULL, arr) rows.
-- Filled in by the caller: sweep_diff_table, full_diff_table, diff_counts
-- (segments_diff_counts). No parameters.
WITH ins AS (
    INSERT INTO {sweep_diff_table} (segment_id, account_id, entering)
    SELECT segment_id, account_id, entering FROM {full_diff_table}
    WHERE account_id IS NOT NULL
    RETURNING segment_id, entering
)
{diff_counts}
UNION ALL
SELECT 'total', segment_id, members, NULL, ROUND(cents / 100.0, 2)
FROM {full_diff_table}
WHERE account_id IS NULL;

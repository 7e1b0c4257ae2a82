-- A sweep batch's many-segment diff into the sweep diff table, returning its counts per
-- segment. Filled in by the caller: compare (segments_compare), sweep_diff_table,
-- diff_rows (segments_diff_rows), diff_counts (segments_diff_counts).
-- Parameters: the evaluated query's.
{compare},
ins AS (
    INSERT INTO {sweep_diff_table} (segment_id, account_id, entering)
    {diff_rows}
    RETURNING segment_id, entering
)
{diff_counts};

-- Every account's many-segment diff, into a temporary table dropped at commit.
-- CREATE TABLE AS, unlike a statement that writes in a CTE, may run the evaluation of the
-- rules in parallel workers. Its rows are the diff, and one row per segment (account_id
-- NULL) with the new membership's count and ARR, summed as whole cents (bigint: exact,
-- and cheaper than numeric additions).
-- Filled in by the caller: full_diff_table, compare (segments_compare), diff_rows
-- (segments_diff_rows). Parameters: the evaluated query's.
CREATE TEMPORARY TABLE {full_diff_table} ON COMMIT DROP AS
{compare}
SELECT d.*, NULL::bigint AS members, NULL::numeric AS cents FROM ({diff_rows}) d
UNION ALL
SELECT s.id, NULL, NULL, COUNT(*), SUM(w.cents)
FROM w CROSS JOIN LATERAL unnest(w.segs) AS s(id)
GROUP BY s.id;

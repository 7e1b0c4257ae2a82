-- Per segment, the entering and total rows of the diff rows inserted by ins, as
-- ('diff', segment, entered, total, NULL) rows. A fragment.
SELECT 'diff', segment_id, COUNT(*) FILTER (WHERE entering), COUNT(*), NULL::numeric
FROM ins
GROUP BY segment_id

-- A range of accounts evaluated against many segments, into a temporary table dropped at
-- commit: per account its id, its ARR in whole cents and its wanted segments as integer
-- bitmasks (w0, w1, …: 63 segments per word). Each segment's column of e holds its bit
-- when the account matches the segment's rule, else 0, so a word is the sum of its
-- columns. CREATE TABLE AS, unlike a statement that writes in a CTE, may run the
-- evaluation of the rules in parallel workers.
-- Filled in by the caller: bits_table, columns (of e), evaluated_sql, words (the word
-- sums, "e.seg_1 + e.seg_2 AS w0, …"). Parameters: the evaluated query's.
CREATE TEMPORARY TABLE {bits_table} ON COMMIT DROP AS
WITH e({columns}) AS ({evaluated_sql})
SELECT e.id AS account_id, (e.arr * 100)::bigint AS cents, {words}
FROM e;

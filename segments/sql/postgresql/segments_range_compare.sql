-- A range's many-segment diff into the sweep diff table, returning its counts per segment.
--
-- h: the held bitmasks of each account of the range, a bit_or of the stored memberships
--    read off the (account, segment) index; a membership's bit is an O(1) subscript of
--    one array per word indexed by segment id (0 or NULL for segments not compared);
-- x: only the accounts whose wanted and held words differ (one FULL JOIN on the account
--    id): an unchanged account costs one comparison per word, whatever its number of
--    segments;
-- ins: one diff row per segment whose bit differs (want XOR have), entering when wanted.
--
-- Filled in by the caller: members, held_words ("bit_or((%s::bigint[])[m.segment_id])
-- AS h0, …"), held_range (the range condition on m.account_id), bits_table, want_have
-- (x's columns), differs (x's condition), entering and changed (b's bit in x's want and
-- in want XOR have), sweep_diff_table, diff_counts (segments_diff_counts).
-- Parameters: one bit array per word, the range's bounds as held_range needs them, then
-- the compared segments' ids, words and bits (three arrays).
WITH h AS (
    SELECT m.account_id, {held_words}
    FROM {members} m
    WHERE {held_range}
    GROUP BY m.account_id
),
x AS MATERIALIZED (
    SELECT COALESCE(w.account_id, h.account_id) AS account_id, {want_have}
    FROM {bits_table} w FULL JOIN h ON h.account_id = w.account_id
    WHERE {differs}
),
ins AS (
    INSERT INTO {sweep_diff_table} (segment_id, account_id, entering)
    SELECT b.segment_id, x.account_id, {entering}
    FROM x CROSS JOIN unnest(%s::bigint[], %s::int[], %s::bigint[]) AS b(segment_id, word, bit)
    WHERE {changed}
    RETURNING segment_id, entering
)
{diff_counts};

-- The first computation of segments that hold no member in the range: no diff to compute,
-- the wanted (segment, account) pairs are inserted as they are, one entry event and one
-- membership each, in one statement (the bits table read once). Both inserts go in
-- (segment, account) order: the unique index's pages are then written one after another
-- rather than jumping between segments at every row. Returns per segment what
-- memberships_changed needs of its new events (their count, first and last ids, and the
-- first ids up to the limit), so that no query has to find them again: during a bulk
-- load the events table has no index to find them by.
-- Filled in by the caller: bits_table, wanted (b's bit in w's word), events, members.
-- Parameters: the segments' ids, words, bits and version ids (four arrays), the entered
-- kind, now, now, the number of ids to return per segment.
WITH b AS (
    SELECT * FROM unnest(%s::bigint[], %s::int[], %s::bigint[], %s::bigint[])
        AS b(segment_id, word, bit, version_id)
),
r AS MATERIALIZED (
    SELECT b.segment_id, w.account_id, b.version_id
    FROM {bits_table} w JOIN b ON {wanted}
),
ev AS (
    INSERT INTO {events} (segment_id, account_id, kind, at, version_id)
    SELECT segment_id, account_id, %s, %s, version_id FROM r
    ORDER BY segment_id, account_id
    RETURNING segment_id, id
),
m AS (
    INSERT INTO {members} (segment_id, account_id, entered_at, version_id)
    SELECT segment_id, account_id, %s, version_id FROM r
    ORDER BY segment_id, account_id
)
SELECT segment_id, count(*), min(id), max(id), (array_agg(id ORDER BY id))[1:%s]
FROM ev
GROUP BY segment_id;

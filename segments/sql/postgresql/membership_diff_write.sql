-- One segment's membership diff and its writes in one statement (data-modifying CTEs).
--
-- t runs the target query once (each account with its ARR); d is the diff, one FULL JOIN
-- of t with the segment's stored members (each side read once; with a partial run only
-- the members in the batch table); then the events of d are inserted, the leavers deleted
-- and the newcomers inserted. The statement returns the target set's count and ARR (the
-- membership after this run: no second pass over the memberships), the diff's counts, and
-- the new events' id range, plus their ids when few.
--
-- Every part reads the snapshot taken before the statement, so the DELETE and the INSERT
-- of memberships touch disjoint (segment, account) pairs. When d is empty (a no-change
-- run) the three writes write no row. One round trip, and no temporary table.
--
-- Filled in by the caller: target_sql (the target query: id, arr), members and events
-- (the membership and event tables), only_batch (empty, or the batch condition on m).
-- Parameters: the target query's, then segment id, segment id, the entered kind, the
-- exited kind, now, version id, segment id, segment id, now, version id, and the most
-- event ids to return plus one.
WITH t(id, arr) AS MATERIALIZED ({target_sql}),
d(account_id, entering) AS MATERIALIZED (
    SELECT COALESCE(t.id, m.account_id), m.account_id IS NULL
    FROM t
    FULL JOIN (
        SELECT m.account_id FROM {members} m WHERE m.segment_id = %s{only_batch}
    ) m ON m.account_id = t.id
    WHERE t.id IS NULL OR m.account_id IS NULL
),
ev AS (
    INSERT INTO {events} (segment_id, account_id, kind, at, version_id)
    SELECT %s, d.account_id, CASE WHEN d.entering THEN %s ELSE %s END, %s, %s
    FROM d
    RETURNING id
),
gone AS (
    DELETE FROM {members} m USING d
    WHERE m.segment_id = %s AND m.account_id = d.account_id AND NOT d.entering
),
new AS (
    INSERT INTO {members} (segment_id, account_id, entered_at, version_id)
    SELECT %s, d.account_id, %s, %s FROM d WHERE d.entering
)
SELECT tt.n, tt.arr, dd.entered, dd.total, ee.first, ee.last,
    (SELECT ARRAY_AGG(id ORDER BY id) FROM (SELECT id FROM ev LIMIT %s) few)
FROM (SELECT COUNT(*) AS n, COALESCE(SUM(arr), 0) AS arr FROM t) tt,
    (SELECT COUNT(*) FILTER (WHERE entering) AS entered, COUNT(*) AS total FROM d) dd,
    (SELECT MIN(id) AS first, MAX(id) AS last FROM ev) ee;

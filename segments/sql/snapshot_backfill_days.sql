-- One segment's size and ARR at the end of each of some days, from its membership events
-- and contract history: one row (day, members, ARR on that day of those members) per day
-- that had any member (a day with none has no row).
-- Format fields: days (a VALUES list of (day, the end of that day) pairs, two placeholders
-- each), membership_event and contract (the quoted tables), entered (the entered kind),
-- counts_on_day (contract c counts on p.day).
-- Parameters: the days' pairs, the segment id, the end of the last day.
--
-- Each entered event opens a span that the account's next event (an exit) closes; an
-- account is a member at the end of a day when a span opened before then and did not close
-- by then. Its ARR on the day is summed from its contracts that count on it (DESIGN
-- section 6), so a day long past reads the revenue as it stood then.
WITH days (day, day_end) AS (VALUES {days}),
ev AS (
    SELECT e.account_id, e.kind, e.at,
        LEAD(e.at) OVER (PARTITION BY e.account_id ORDER BY e.at, e.id) AS next_at
    FROM {membership_event} e
    WHERE e.segment_id = %s AND e.at < %s
),
present AS (
    SELECT DISTINCT days.day, ev.account_id
    FROM days JOIN ev ON ev.kind = '{entered}' AND ev.at < days.day_end
        AND (ev.next_at IS NULL OR ev.next_at >= days.day_end)
)
SELECT p.day, COUNT(*),
    SUM(COALESCE((SELECT SUM(c.arr) FROM {contract} c
        WHERE c.account_id = p.account_id AND {counts_on_day}), 0))
FROM present p
GROUP BY p.day

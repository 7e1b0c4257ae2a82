-- The members of some segments at a past instant: (segment_id, account_id) of every
-- account whose last membership event before then (by at, then id) is not an exit.
-- Format fields: membership_event (the quoted table), segment_ids (one placeholder per id),
-- exited (the exited kind). Parameters: the segment ids, then the instant (exclusive).
--
-- The last event of each (segment, account) up to then is the first one read by a
-- backward scan of the event_member_history index (segment, account, at, id, including
-- kind): one index-only scan with no sort and no hashing. "<> exited" rather than
-- "= entered": the planner's default guess for an equality on a derived column is 0.5
-- percent of the rows, which invited nested loops over the result.
SELECT l.segment_id, l.account_id FROM (
    SELECT DISTINCT ON (e.segment_id, e.account_id) e.segment_id, e.account_id, e.kind
    FROM {membership_event} e
    WHERE e.segment_id IN ({segment_ids}) AND e.at < %s
    ORDER BY e.segment_id DESC, e.account_id DESC, e.at DESC, e.id DESC
) l
WHERE l.kind <> '{exited}'

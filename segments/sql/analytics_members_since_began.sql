-- Every account that has been a member of some segments since they began, up to an
-- instant: (segment_id, account_id) of each account with an entered event before then,
-- current members and those that left alike (DESIGN section 6: the window population of a
-- segment younger than the window).
-- Format fields: membership_event (the quoted table), segment_ids (one placeholder per id),
-- entered (the entered kind). Parameters: the segment ids, then the instant (exclusive).
--
-- Read from the event_member_history index (segment, account, at, id, including kind).
SELECT DISTINCT e.segment_id, e.account_id FROM {membership_event} e
WHERE e.segment_id IN ({segment_ids}) AND e.kind = '{entered}' AND e.at < %s

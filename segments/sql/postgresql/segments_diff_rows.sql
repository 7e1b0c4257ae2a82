-- The diff rows (segment_id, account_id, entering) of the accounts in x (see
-- segments_compare): each segment wanted but not held enters, each held but not wanted
-- exits. A fragment.
SELECT s.id AS segment_id, x.account_id, true AS entering
FROM x CROSS JOIN LATERAL unnest(x.want) AS s(id)
WHERE s.id <> ALL (x.have)
UNION ALL
SELECT s.id, x.account_id, false
FROM x CROSS JOIN LATERAL unnest(x.have) AS s(id)
WHERE s.id <> ALL (x.want)

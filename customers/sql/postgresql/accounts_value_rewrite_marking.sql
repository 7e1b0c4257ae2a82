-- Rewrite one picklist column from an old value to a new one and mark every rewritten
-- account for segment re-evaluation, in ONE statement (a picklist merge or rename): the
-- UPDATE's RETURNING feeds the marks, so the accounts holding the old value are found
-- once, not once to mark and again to rewrite. Returns (rowcount) the accounts marked,
-- which are the accounts rewritten.
-- The UPDATE sets a plain column (FOR NO KEY UPDATE row locks), so marking after it keeps
-- the lock order accounts_mark_changed describes. DO UPDATE rather than DO NOTHING for the
-- reason it gives (a sweep batch may hold a mark locked and delete it).
-- Format fields: account (table), column (the picklist's column, quoted),
-- pending_evaluation (table).
-- Parameters: new value, updated_at, old value, marked_at.
WITH rewritten AS (
    UPDATE {account} SET {column} = %s, updated_at = %s
    WHERE {column} = %s
    RETURNING id
)
INSERT INTO {pending_evaluation} (account_id, marked_at)
SELECT id, %s FROM rewritten
ON CONFLICT (account_id) DO UPDATE SET marked_at = excluded.marked_at

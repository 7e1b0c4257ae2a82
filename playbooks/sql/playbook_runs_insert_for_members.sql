-- The activation runs of one chunk of a playbook's current members (on_activation =
-- run_for_current_members): one run per member whose account id is in (after, upto],
-- in one INSERT ... SELECT, never a row through Python. A member for whom the playbook
-- ran (not skipped) within reentry_cooldown_days before the activation gets a skipped
-- run with the reason. ON CONFLICT DO NOTHING against the unique key (playbook, account,
-- activation): a repeated or concurrent chunk inserts nothing twice. RETURNING gives the
-- new runs (id, status), so their execution is queued in the same transaction.
-- "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
-- Format fields: runs, memberships (table names).
-- Parameters, in order: playbook id, activated_at (activation_at), activated_at
-- (triggered_at), the skip detail, now (created_at); playbook id, cooldown start,
-- activated_at (the cooldown window); segment id, entered before, after, upto.
INSERT INTO {runs}
    (playbook_id, account_id, activation_at, triggered_at, status, detail, created_at)
SELECT %s, chunk.account_id, %s, %s,
       CASE WHEN chunk.ran THEN 'skipped' ELSE 'pending' END,
       CASE WHEN chunk.ran THEN %s ELSE '' END,
       %s
FROM (
    SELECT m.account_id,
           EXISTS (
               SELECT 1 FROM {runs} r
               WHERE r.playbook_id = %s AND r.account_id = m.account_id
                 AND r.status <> 'skipped'
                 AND r.triggered_at >= %s AND r.triggered_at < %s
           ) AS ran
    FROM {memberships} m
    WHERE m.segment_id = %s AND m.entered_at < %s
      AND m.account_id > %s AND m.account_id <= %s
) chunk
WHERE true
ON CONFLICT DO NOTHING
RETURNING id, status

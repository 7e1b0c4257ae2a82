-- One segment's membership diff into the diff table: the target set t(id) minus the
-- stored members (entering), then the stored members minus t (exiting), each with NOT
-- EXISTS. With a partial run only_batch limits the stored side to the batch's accounts.
--
-- Filled in by the caller: target_sql (the target query: id), diff_table, members (the
-- membership table), only_batch (empty, or the batch condition on m).
-- Parameters: the target query's, then true, segment id, false, segment id.
WITH t(id) AS ({target_sql})
INSERT INTO {diff_table} (account_id, entering)
SELECT t.id, %s FROM t
WHERE NOT EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %s AND m.account_id = t.id)
UNION ALL
SELECT m.account_id, %s FROM {members} m
WHERE m.segment_id = %s{only_batch} AND NOT EXISTS (SELECT 1 FROM t WHERE t.id = m.account_id);

-- Mark every account a query selects for segment re-evaluation in one statement (the
-- set-based twin of accounts_mark_changed, for writes that change many accounts at once,
-- such as a picklist merge): DO UPDATE rather than DO NOTHING for the reason
-- accounts_mark_changed gives (a sweep batch may hold the row locked and delete it), unless
-- the caller asks for DO NOTHING (see accounts_mark_changed_matching).
-- "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
-- Format fields: pending_evaluation (table name), accounts (SQL selecting the ids as id),
-- on_conflict (the action).
-- Parameters: marked_at, then the accounts query's parameters.
INSERT INTO {pending_evaluation} (account_id, marked_at)
SELECT accounts.id, %s FROM ({accounts}) accounts WHERE true
ON CONFLICT (account_id) {on_conflict}
